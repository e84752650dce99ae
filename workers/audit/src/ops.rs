//! The audit consumer's small HTTP port: `/health/live`, `/health/ready`, `/metrics`.
//!
//! Ready means RabbitMQ and PostgreSQL answer now. While they do not, events wait on the
//! durable queue.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::Auditor;

#[derive(Clone)]
struct Ops {
    auditor: Arc<Auditor>,
    metrics: PrometheusHandle,
}

/// The ops router.
pub fn router(auditor: Arc<Auditor>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(Ops { auditor, metrics })
}

async fn ready(State(ops): State<Ops>) -> (StatusCode, String) {
    let (amqp, db) = tokio::join!(ops.auditor.amqp.ping(), ops.auditor.store.ping());
    let word = |up: bool| if up { "\"up\"" } else { "\"down\"" };
    let body = format!(
        "{{\"rabbitmq\":{},\"postgres\":{}}}",
        word(amqp.is_ok()),
        word(db.is_ok())
    );
    let status = if amqp.is_ok() && db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.render()
}
