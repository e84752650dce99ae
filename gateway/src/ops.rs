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

use crate::app::Load;
use crate::records::Records;

#[derive(Clone)]
struct Ops {
    records: Records,
    metrics: PrometheusHandle,
    load: Option<Load>,
}

/// The ops routes.
pub fn router(records: Records, metrics: PrometheusHandle) -> Router {
    router_with_load(records, metrics, None)
}

/// The ops routes, with readiness also reporting the SOAP requests in flight: every request
/// permit taken (new requests are being shed with 503) is "saturated", not ready, so a load
/// balancer sends new work to another replica.
pub fn router_with_load(records: Records, metrics: PrometheusHandle, load: Option<Load>) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(Ops {
            records,
            metrics,
            load,
        })
}

async fn ready(State(ops): State<Ops>) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let (amqp, redis) = tokio::join!(ops.records.amqp().ping(), ops.records.cache().ping());
    let completions = ops.records.completions().is_subscribed();
    let (in_flight, capacity) = ops
        .load
        .as_ref()
        .map_or((0, usize::MAX), |l| (l.in_flight(), l.capacity()));
    let saturated = in_flight >= capacity;
    let up = |ok: bool| if ok { "up" } else { "down" };
    let (status, word) = match (redis.is_ok() && completions, amqp.is_ok(), saturated) {
        (false, _, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, _, true) => (StatusCode::SERVICE_UNAVAILABLE, "saturated"),
        (true, true, false) => (StatusCode::OK, "ready"),
        (true, false, false) => (StatusCode::OK, "degraded"),
    };
    let body = format!(
        "{{\"status\":\"{word}\",\"rabbitmq\":\"{}\",\"redis\":\"{}\",\"completions\":\"{}\",\"requests_in_flight\":{in_flight}}}",
        up(amqp.is_ok()),
        up(redis.is_ok()),
        up(completions),
    );
    (status, [("content-type", "application/json")], body)
}

async fn render_metrics(State(ops): State<Ops>) -> String {
    ops.metrics.render()
}
