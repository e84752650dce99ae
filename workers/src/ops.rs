//! The worker's small HTTP port: `/health/live`, `/health/ready`, `/metrics`.
//!
//! Ready means RabbitMQ and Redis answer now; an orchestrator stops routing (and a KEDA
//! scaler keeps counting queue depth) while they do not.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::Worker;

#[derive(Clone)]
struct Ops {
    worker: Arc<Worker>,
    metrics: PrometheusHandle,
}

/// The ops router.
pub fn router(worker: Arc<Worker>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(Ops { worker, metrics })
}

async fn ready(State(ops): State<Ops>) -> (StatusCode, String) {
    let amqp = ops.worker.amqp.ping().await.is_ok();
    let redis = ops.worker.cache.ping().await.is_ok();
    let body = format!(
        "{{\"rabbitmq\":{},\"redis\":{}}}",
        if amqp { "\"up\"" } else { "\"down\"" },
        if redis { "\"up\"" } else { "\"down\"" }
    );
    let status = if amqp && redis {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.render()
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
