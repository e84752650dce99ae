//! `/metrics` before any traffic: every series the alerts and dashboards in `deploy/` read is
//! there at zero (an alert on the first dead-lettered job must not wait for the series to
//! exist), with the process metrics (CPU, memory, open fds, threads) and `xhuma_build_info`,
//! for the gateway and the worker alike. Its own test binary: the recorder is process-global.

mod support;

use support::{Options, Stack, scrape_metrics};
use xhuma_simulator::Simulator;

fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn series_exist_at_zero_before_any_request() {
    let metrics = xhuma_common::telemetry::install_metrics();
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let gateway = scrape_metrics(xhuma_gateway::ops::router(
        stack.records.clone(),
        metrics.clone(),
    ))
    .await;
    let worker = xhuma_workers::Worker::connect(stack.worker_config())
        .await
        .expect("worker");
    let text = scrape_metrics(xhuma_workers::ops::router(worker, metrics)).await;
    for series in [
        r#"xhuma_soap_requests_total{iti="iti38",outcome="registry_error"}"#,
        r#"xhuma_soap_requests_total{iti="iti55",outcome="backend_error"}"#,
        r#"xhuma_soap_requests_total{iti="iti39",outcome="security"}"#,
        r#"xhuma_wait_total{outcome="deadline"}"#,
        r#"xhuma_audit_events_total{outcome="dropped"}"#,
        r#"xhuma_jobs_total{stage="gpconnect",outcome="dead_lettered"}"#,
        r#"xhuma_jobs_total{stage="sds",outcome="retried"}"#,
        r#"xhuma_sds_cache_total{outcome="miss"}"#,
        r#"xhuma_demographic_mismatch_total{field="birth_date"}"#,
        r#"xhuma_upstream_errors_total{upstream="gpconnect"}"#,
    ] {
        assert_eq!(
            value_of(&text, series),
            Some(0.0),
            "{series} missing or not 0"
        );
    }
    for (name, scraped) in [("gateway", &gateway), ("worker", &text)] {
        for series in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_threads",
        ] {
            let v = value_of(scraped, series);
            assert!(v.is_some_and(|v| v >= 0.0), "{name}: {series} = {v:?}");
        }
        assert!(
            value_of(scraped, "process_resident_memory_bytes").is_some_and(|v| v > 1e6),
            "{name}: RSS is real"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    for service in ["xhuma-gateway", "xhuma-worker"] {
        let series = format!(r#"xhuma_build_info{{service="{service}",version="{version}"}}"#);
        assert_eq!(value_of(&text, &series), Some(1.0), "{series}");
    }
    stack.stop().await;
}
