//! Log events reach an OTLP/HTTP collector as log records (what the compose and k8s collectors
//! ship to Loki): one test binary, because the subscriber is process-global.
//!
//! The collector here is a loopback HTTP endpoint that keeps every body POSTed to `/v1/logs`.
//! OTLP/HTTP protobuf carries strings as their UTF-8 bytes, so the test reads the message, the
//! fields and the service name straight out of the bodies.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;
use xhuma_common::telemetry::{self, XHUMA_OTLP_LOGS_ENDPOINT};

const SERVICE: &str = "xhuma-otlp-logs-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_events_reach_the_collector_as_otlp_log_records() {
    let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(64);
    let app = Router::new().route(
        "/v1/logs",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send((kind, body)).await;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/logs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let lookup = move |var: &str| (var == XHUMA_OTLP_LOGS_ENDPOINT).then(|| url.clone());
    let telemetry = telemetry::init(SERVICE, &lookup);
    tracing::info!(patient.key = "pk-7f3a", outcome = "hit", "Document served");
    tracing::warn!(stage = "gpconnect", "Upstream slow");
    tracing::debug!("below the filter, never exported");
    // Shutting down flushes the batch (a blocking HTTP call, off the runtime's threads).
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let mut received = Vec::new();
    let mut kinds = Vec::new();
    while let Ok(Some((kind, body))) =
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await
    {
        kinds.push(kind);
        received.extend_from_slice(&body);
        if contains(&received, "Upstream slow") {
            break;
        }
    }
    assert!(!received.is_empty(), "no OTLP logs request arrived");
    assert!(
        kinds.iter().all(|k| k == "application/x-protobuf"),
        "{kinds:?}"
    );
    for needle in [
        SERVICE,
        "service.name",
        "Document served",
        "patient.key",
        "pk-7f3a",
        "outcome",
        "Upstream slow",
        "WARN",
    ] {
        assert!(contains(&received, needle), "{needle} not exported");
    }
    assert!(!contains(&received, "never exported"));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
