//! Logging and tracing set-up shared by the binaries.
//!
//! Logs are JSON lines on stdout (`XHUMA_LOG_FORMAT=text` for people), filtered by `RUST_LOG`
//! (default `info`). Patient identifiers never appear at info level or above: code logs the
//! pseudonymous `patient.key` instead.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const XHUMA_LOG_FORMAT: &str = "XHUMA_LOG_FORMAT";

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(service: &'static str, lookup: &dyn Fn(&str) -> Option<String>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = lookup(XHUMA_LOG_FORMAT).is_some_and(|v| v.eq_ignore_ascii_case("text"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if text {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "Starting");
    }
}

/// Installs the global Prometheus recorder and returns the handle whose `render()` the
/// `/metrics` route serves. Safe to call more than once (tests): later calls build a
/// recorder that is not installed globally.
pub fn install_metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    const SECONDS: &[f64] = &[
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    // Bundles and documents run from a few KB to a few MB.
    const BYTES: &[f64] = &[1e3, 1e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS))
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    let _ = metrics::set_global_recorder(recorder);
    handle
}
