//! One trace across the queue: spans exported over OTLP/HTTP (to a collector stand-in on
//! loopback) show the worker's `job` spans as descendants of the gateway's `soap` span, because
//! the W3C `traceparent` travels in the AMQP message headers.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use support::{Options, Stack, iti38, iti55, unique_id};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use xhuma_simulator::Simulator;

#[derive(Debug, Clone)]
struct Exported {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_and_worker_spans_share_one_trace() {
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let provider = xhuma_common::telemetry::otlp_provider("xhuma-test", &url).expect("exporter");
    tracing_subscriber::registry()
        .with(xhuma_common::telemetry::otel_layer(&provider, "xhuma-test"))
        .init();

    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let nhs = "9690937286";
    let (status, _) = stack.post("/SOAP/iti55", iti55(nhs)).await;
    assert_eq!(status, 200);
    let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert!(unique_id(&body).is_some(), "{body}");
    stack.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let p = provider.clone();
    tokio::task::spawn_blocking(move || p.force_flush())
        .await
        .expect("flush task")
        .expect("flush");

    let bodies = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(!bodies.is_empty(), "spans were exported over OTLP/HTTP");
    let mut spans = Vec::new();
    for body in bodies {
        let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push(Exported {
                        name: s.name,
                        trace_id: s.trace_id,
                        span_id: s.span_id,
                        parent: s.parent_span_id,
                    });
                }
            }
        }
    }
    let by_id: HashMap<Vec<u8>, Exported> = spans
        .iter()
        .map(|s| (s.span_id.clone(), s.clone()))
        .collect();
    let soap: Vec<&Exported> = spans.iter().filter(|s| s.name == "soap").collect();
    let jobs: Vec<&Exported> = spans.iter().filter(|s| s.name == "job").collect();
    assert!(!soap.is_empty(), "soap spans exported: {spans:?}");
    assert!(
        jobs.len() >= 2,
        "sds and gpconnect job spans exported: {spans:?}"
    );
    // The job spans belong to the trace of the ITI-55 request that enqueued them.
    let discovery_traces: Vec<&Vec<u8>> = soap.iter().map(|s| &s.trace_id).collect();
    for job in &jobs {
        assert!(
            discovery_traces.contains(&&job.trace_id),
            "job in a gateway trace: {job:?}"
        );
        // And it hangs under a span of that trace (the chain reaches a soap span).
        let mut cursor = job.parent.clone();
        let mut reached_soap = false;
        for _ in 0..20 {
            match by_id.get(&cursor) {
                Some(p) if p.name == "soap" => {
                    reached_soap = true;
                    break;
                }
                Some(p) => cursor = p.parent.clone(),
                None => break,
            }
        }
        assert!(
            reached_soap,
            "job span descends from the soap span: {job:?}"
        );
    }
    let _ = provider.shutdown();
}
