//! The audit consumer's small HTTP port: `/health/live`, `/health/ready`, `/metrics`.
//!
//! Ready means RabbitMQ and PostgreSQL answer now. While they do not, events wait on the
//! durable queue.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use xhuma_common::telemetry::Metrics;

use crate::Auditor;

/// The ops router.
pub fn router(auditor: Arc<Auditor>, metrics: Metrics) -> Router {
    init_series();
    xhuma_common::process::ops_router(metrics, move || ready(auditor.clone()))
}

async fn ready(auditor: Arc<Auditor>) -> (StatusCode, String) {
    let (amqp, db) = tokio::join!(auditor.amqp.ping(), auditor.store.ping());
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

/// Every series the alerts (`deploy/compose/alerts.yml`) read exists from the first scrape,
/// at zero.
fn init_series() {
    use metrics::counter;
    xhuma_common::telemetry::build_info("xhuma-audit", env!("CARGO_PKG_VERSION"));
    for outcome in ["stored", "duplicate", "dead_lettered"] {
        counter!("xhuma_audit_consumed_total", "outcome" => outcome).increment(0);
    }
    counter!("xhuma_audit_store_errors_total").increment(0);
    for outcome in ["sent", "failed"] {
        counter!("xhuma_audit_syslog_total", "outcome" => outcome).increment(0);
    }
}
