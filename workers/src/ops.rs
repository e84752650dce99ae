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
