//! Operations endpoints of the gateway: `/health/live`, `/health/ready`, `/metrics`.
//!
//! `main.rs` merges these into the SOAP router. Ready means Redis answers now and the
//! completion subscription is alive (the configuration, keys and certificates were loaded
//! before the listener was bound). Without RabbitMQ the gateway stays ready but says
//! `"status":"degraded"`: discovery and cached reads still work, new prefetch jobs wait for the
//! broker. None of these endpoints returns patient data.

use axum::Router;
use axum::http::StatusCode;
use xhuma_common::telemetry::Metrics;

use crate::app::Load;
use crate::records::Records;

/// The ops routes.
pub fn router(records: Records, metrics: Metrics) -> Router {
    router_with_load(records, metrics, None)
}

/// The ops routes, with readiness also reporting the SOAP requests in flight: every request
/// permit taken (new requests are being shed with 503) is "saturated", not ready, so a load
/// balancer sends new work to another replica.
pub fn router_with_load(records: Records, metrics: Metrics, load: Option<Load>) -> Router {
    init_series();
    xhuma_common::process::ops_router(metrics, move || ready(records.clone(), load.clone()))
}

async fn ready(records: Records, load: Option<Load>) -> (StatusCode, String) {
    let (amqp, redis) = tokio::join!(records.amqp().ping(), records.cache().ping());
    let completions = records.completions().is_subscribed();
    let (in_flight, capacity) = load
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
    (status, body)
}

/// Every series the dashboards and alerts (`deploy/`) read exists from the first scrape, at
/// zero: `rate()` over a series that appears only with the first failure misses that failure,
/// and an alert on a missing series never fires.
fn init_series() {
    use metrics::counter;
    xhuma_common::telemetry::build_info("xhuma-gateway", env!("CARGO_PKG_VERSION"));
    const ANY: [&str; 6] = [
        "security",
        "timeout",
        "overloaded",
        "internal",
        "shutting_down",
        "envelope",
    ];
    let by_iti: [(&'static str, &[&'static str]); 4] = [
        ("iti55", &["ok", "no_match", "query_error", "backend_error"]),
        ("iti47", &["ok", "no_match", "query_error", "backend_error"]),
        ("iti38", &["ok", "no_match", "registry_error"]),
        ("iti39", &["ok", "registry_error", "partial"]),
    ];
    for (iti, outcomes) in by_iti {
        for outcome in outcomes.iter().chain(ANY.iter()) {
            counter!("xhuma_soap_requests_total", "iti" => iti, "outcome" => *outcome).increment(0);
        }
    }
    for reason in ["replay", "patient_mismatch"] {
        counter!("xhuma_security_refusals_total", "reason" => reason).increment(0);
    }
    for outcome in [
        "enqueued",
        "cached",
        "in_flight",
        "recently_failed",
        "error",
        "shed",
    ] {
        counter!("xhuma_prefetch_total", "outcome" => outcome).increment(0);
    }
    for outcome in [
        "hit",
        "completed",
        "failed",
        "on_demand",
        "unpublished",
        "deadline",
    ] {
        counter!("xhuma_wait_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["published", "dropped"] {
        counter!("xhuma_audit_events_total", "outcome" => outcome).increment(0);
    }
    counter!("xhuma_audit_unconfirmed_total").increment(0);
    for upstream in ["oauth", "pds"] {
        counter!("xhuma_upstream_errors_total", "upstream" => upstream).increment(0);
    }
}
