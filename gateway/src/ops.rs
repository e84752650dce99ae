//! Operations endpoints of the gateway: `/health/live`, `/health/ready`, `/metrics`.
//!
//! `main.rs` merges these into the SOAP router. Ready means Redis answers now and the
//! completion subscription is alive (the configuration, keys and certificates were loaded
//! before the listener was bound). Without RabbitMQ the gateway stays ready but says
//! `"status":"degraded"`: discovery and cached reads still work, new prefetch jobs wait for the
//! broker. None of these endpoints returns patient data.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::records::Records;

#[derive(Clone)]
struct Ops {
    records: Records,
    metrics: PrometheusHandle,
}

/// The ops routes.
pub fn router(records: Records, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(Ops { records, metrics })
}

async fn ready(State(ops): State<Ops>) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let (amqp, redis) = tokio::join!(ops.records.amqp().ping(), ops.records.cache().ping());
    let completions = ops.records.completions().is_subscribed();
    let up = |ok: bool| if ok { "up" } else { "down" };
    let (status, word) = match (redis.is_ok() && completions, amqp.is_ok()) {
        (true, true) => (StatusCode::OK, "ready"),
        (true, false) => (StatusCode::OK, "degraded"),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let body = format!(
        "{{\"status\":\"{word}\",\"rabbitmq\":\"{}\",\"redis\":\"{}\",\"completions\":\"{}\"}}",
        up(amqp.is_ok()),
        up(redis.is_ok()),
        up(completions),
    );
    (status, [("content-type", "application/json")], body)
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.render()
}
