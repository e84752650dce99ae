//! The Prometheus exposition after an end-to-end run: the metric names and label sets the
//! dashboards and alerts in `deploy/` rely on are all there, with only low-cardinality labels
//! (no NHS numbers, document or job ids).

mod support;

use std::time::Duration;

use support::{Options, Stack, iti38, iti39, iti55, unique_id};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_names_and_labels_after_a_run() {
    let handle = xhuma_common::telemetry::install_metrics();
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let nhs = "9690937286";
    stack.post("/SOAP/iti55", iti55(nhs)).await;
    let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let uid = unique_id(&body).expect("document");
    stack.post("/SOAP/iti39", iti39(&uid)).await;
    stack.post("/SOAP/iti38", iti38("9690938576")).await; // refused

    let worker = xhuma_workers::Worker::connect(stack.worker_config())
        .await
        .expect("worker");
    let token = tokio_util::sync::CancellationToken::new();
    tokio::spawn(xhuma_workers::ops::sample_queue_depths(
        worker.clone(),
        token.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    token.cancel();

    let ops = xhuma_workers::ops::router(worker, handle);
    let text = support::scrape_metrics(ops).await;
    for expected in [
        r#"xhuma_soap_requests_total{iti="iti55",outcome="#,
        r#"xhuma_soap_requests_total{iti="iti38",outcome="#,
        r#"xhuma_soap_requests_total{iti="iti39",outcome="#,
        r#"xhuma_soap_request_duration_seconds_bucket{iti="iti38""#,
        r#"xhuma_prefetch_total{outcome="enqueued"}"#,
        r#"xhuma_wait_total{outcome="#,
        r#"xhuma_jobs_total{stage="sds",outcome="forwarded"}"#,
        r#"xhuma_jobs_total{stage="gpconnect",outcome="cached"}"#,
        r#"xhuma_jobs_total{stage="#,
        r#"xhuma_job_duration_seconds_bucket{stage="gpconnect""#,
        r#"xhuma_sds_cache_total{outcome="#,
        "xhuma_gpconnect_fetch_seconds_bucket",
        "xhuma_conversion_seconds_bucket",
        "xhuma_conversion_output_bytes_bucket",
        r#"xhuma_queue_depth{queue="sds"}"#,
        r#"xhuma_queue_depth{queue="gpconnect"}"#,
        r#"xhuma_queue_depth{queue="dead"}"#,
        r#"xhuma_upstream_requests_total{upstream="gpconnect",status="2xx"}"#,
        r#"xhuma_upstream_requests_total{upstream="gpconnect",status="4xx"}"#,
        r#"xhuma_upstream_requests_total{upstream="pds",status="2xx"}"#,
        r#"xhuma_upstream_duration_seconds_bucket{upstream="sds""#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(!text.contains(nhs), "no NHS number in any label");
    assert!(!text.contains(&uid), "no document id in any label");
    stack.stop().await;
}
