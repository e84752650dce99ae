//! Logs, traces and metrics set-up shared by the binaries.
//!
//! - Logs are JSON lines on stdout (`XHUMA_LOG_FORMAT=text` for people), filtered by `RUST_LOG`
//!   (default `info`). Patient identifiers never appear at info level or above: code logs the
//!   pseudonymous `patient.key` instead.
//! - Log events also go to an OTLP/HTTP collector as log records when
//!   `XHUMA_OTLP_LOGS_ENDPOINT` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) names one; the collector ships
//!   them to the log store (Loki in `deploy/`). Same events, same filter, same fields as stdout,
//!   plus the trace and span they happened in. The exporter's own HTTP client is never logged
//!   through itself (that would feed back).
//! - Traces go to an OTLP/HTTP collector when `XHUMA_OTLP_ENDPOINT` (or the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`) names one. The W3C `traceparent` travels in AMQP headers
//!   ([`traceparent`] on publish, [`adopt_traceparent`] on consume), so one trace shows gateway →
//!   queue → worker → GP Connect → cache.
//! - Metrics: a Prometheus recorder whose `render()` the `/metrics` routes serve.

use std::collections::HashMap;

use crate::cli::Setting;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub const XHUMA_LOG_FORMAT: &str = "XHUMA_LOG_FORMAT";
pub const XHUMA_OTLP_ENDPOINT: &str = "XHUMA_OTLP_ENDPOINT";
pub const XHUMA_OTLP_LOGS_ENDPOINT: &str = "XHUMA_OTLP_LOGS_ENDPOINT";

/// The settings above as `--help` lists them ([`crate::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(XHUMA_LOG_FORMAT, "json", "json lines, or text for people"),
    Setting::new(
        XHUMA_OTLP_ENDPOINT,
        "",
        "OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces)",
    ),
    Setting::new(
        XHUMA_OTLP_LOGS_ENDPOINT,
        "",
        "OTLP/HTTP logs URL (e.g. http://collector:4318/v1/logs); logs stay on stdout too",
    ),
];
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Keeps the trace and log exporters alive; call [`Telemetry::shutdown`] before exit to flush.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    logs: Option<SdkLoggerProvider>,
}

// === impl Telemetry ===

impl Telemetry {
    /// Flushes and stops the exporters (a no-op without them).
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            let _ = p.shutdown();
        }
        if let Some(p) = self.logs {
            let _ = p.shutdown();
        }
    }
}

/// The logs URL: `XHUMA_OTLP_LOGS_ENDPOINT` as given, or `OTEL_EXPORTER_OTLP_ENDPOINT` plus the
/// OTLP/HTTP logs path.
pub fn otlp_logs_url(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(url) = lookup(XHUMA_OTLP_LOGS_ENDPOINT).filter(|v| !v.trim().is_empty()) {
        return Some(url);
    }
    lookup(OTEL_EXPORTER_OTLP_ENDPOINT)
        .filter(|v| !v.trim().is_empty())
        .map(|base| format!("{}/v1/logs", base.trim_end_matches('/')))
}

/// A logger provider exporting over OTLP/HTTP (protobuf) to `url`. The batch processor runs on
/// its own thread with a bounded queue (2,048 records; beyond it records are dropped, never
/// held), so a slow collector costs log records, not memory or request latency.
pub fn otlp_logger(service: &'static str, url: &str) -> Option<SdkLoggerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .ok()?;
    Some(
        SdkLoggerProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build(),
    )
}

/// The bridge from tracing events to `provider`'s log records: the same `RUST_LOG` filter as
/// stdout, minus the crates the exporter itself runs on (their events about an export would be
/// exported in turn).
pub fn otel_logs_layer(provider: &SdkLoggerProvider) -> BoxedLayer {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let filter = [
        "hyper",
        "hyper_util",
        "reqwest",
        "h2",
        "opentelemetry",
        "opentelemetry_sdk",
    ]
    .iter()
    .fold(filter, |f, quiet| format!("{f},{quiet}=off"));
    OpenTelemetryTracingBridge::new(provider)
        .with_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .boxed()
}

/// The traces URL: `XHUMA_OTLP_ENDPOINT` as given, or `OTEL_EXPORTER_OTLP_ENDPOINT` plus the
/// OTLP/HTTP traces path.
pub fn otlp_traces_url(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(url) = lookup(XHUMA_OTLP_ENDPOINT).filter(|v| !v.trim().is_empty()) {
        return Some(url);
    }
    lookup(OTEL_EXPORTER_OTLP_ENDPOINT)
        .filter(|v| !v.trim().is_empty())
        .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
}

/// A tracer provider exporting over OTLP/HTTP (protobuf) to `url`. The batch processor runs on
/// its own thread, so the blocking HTTP client never stalls the async runtime.
pub fn otlp_provider(service: &'static str, url: &str) -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .ok()?;
    Some(
        SdkTracerProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build(),
    )
}

/// The OTel layer for `provider`, exporting spans at info level and above.
pub fn otel_layer(provider: &SdkTracerProvider, service: &'static str) -> BoxedLayer {
    let tracer = provider.tracer(service);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(EnvFilter::new("info"))
        .boxed()
}

/// Installs the global subscriber (logs, and traces when configured). Call once, early in
/// `main`; a second call does nothing.
pub fn init(service: &'static str, lookup: &dyn Fn(&str) -> Option<String>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = lookup(XHUMA_LOG_FORMAT).is_some_and(|v| v.eq_ignore_ascii_case("text"));
    let fmt: BoxedLayer = if text {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    };
    let provider = otlp_traces_url(lookup).and_then(|url| otlp_provider(service, &url));
    let logs = otlp_logs_url(lookup).and_then(|url| otlp_logger(service, &url));
    let mut layers = vec![fmt];
    if let Some(p) = &provider {
        layers.push(otel_layer(p, service));
    }
    if let Some(p) = &logs {
        layers.push(otel_logs_layer(p));
    }
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
    {
        tracing::info!(
            service,
            version = env!("CARGO_PKG_VERSION"),
            traces = provider.is_some(),
            otlp_logs = logs.is_some(),
            "Starting"
        );
    }
    Telemetry { provider, logs }
}

/// The W3C `traceparent` of the current span, for an outgoing message (None without tracing).
pub fn traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span named by `traceparent` (from an incoming message).
pub fn adopt_traceparent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// What a `/metrics` route serves: the recorder's series, with the process metrics
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, …)
/// sampled at each scrape so they are as fresh as the scrape.
#[derive(Clone)]
pub struct Metrics {
    handle: metrics_exporter_prometheus::PrometheusHandle,
    process: std::sync::Arc<metrics_process::Collector>,
}

impl Metrics {
    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.render()
    }
}

/// `xhuma_build_info{service,version} 1`: which build each scraped process runs.
pub fn build_info(service: &'static str, version: &'static str) {
    metrics::gauge!("xhuma_build_info", "service" => service, "version" => version).set(1.0);
}

/// Installs the global Prometheus recorder and returns what the `/metrics` route serves.
/// Safe to call more than once (tests): later calls build a recorder that is not installed
/// globally.
pub fn install_metrics() -> Metrics {
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
    let process = metrics_process::Collector::default();
    process.describe();
    Metrics {
        handle,
        process: std::sync::Arc::new(process),
    }
}
