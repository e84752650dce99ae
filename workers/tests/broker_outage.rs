//! RabbitMQ off the answer path: a gateway whose broker is black-holed (connections accepted,
//! nothing answered) starts anyway, answers discovery without waiting on the broker, serves
//! what is cached, says "degraded" in readiness, and recovers by itself when the broker does.

mod support;

use std::time::Duration;

use axum::body::Body;
use http::Request;
use support::proxy::Proxy;
use support::{Options, Stack, eventually, iti38, iti55, unique_id};
use tower::ServiceExt;
use xhuma_common::config::Secret;
use xhuma_simulator::Simulator;

async fn readiness(app: &axum::Router) -> (u16, String) {
    let req = Request::get("/health/ready")
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_black_holed_broker_keeps_discovery_and_cached_reads_working() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let cached = "9690937286";
    // A document cached through the healthy gateway first.
    let (status, body) = stack.post("/SOAP/iti38", iti38(cached)).await;
    assert_eq!(status, 200);
    let uid = unique_id(&body).expect("document cached");

    let broker = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    broker.stall();
    let started = tokio::time::timeout(
        Duration::from_secs(5),
        stack.gateway_with_records(|cfg| {
            cfg.amqp.url = Secret::new(format!("amqp://guest:guest@{}/%2f", broker.addr));
        }),
    )
    .await;
    let (gateway, records, _) = started.expect("the gateway starts without its broker");
    let metrics = xhuma_common::telemetry::install_metrics();
    let ops = xhuma_gateway::ops::router(records, metrics);

    let (status, body) = readiness(&ops).await;
    assert_eq!(status, 200, "cached reads still work: ready, {body}");
    assert!(body.contains("\"status\":\"degraded\""), "{body}");
    assert!(body.contains("\"rabbitmq\":\"down\""), "{body}");

    // Discovery of a patient with nothing cached answers without waiting on the broker
    // (publish timeouts are 5 s to connect and 10 s to confirm).
    let fresh = "9690937278";
    let answered = tokio::time::timeout(
        Duration::from_secs(4),
        stack.post_to(&gateway, "/SOAP/iti55", iti55(fresh)),
    )
    .await
    .expect("discovery answered without the broker");
    assert_eq!(answered.0, 200, "{}", answered.1);
    assert!(answered.1.contains("OK"), "patient found: {}", answered.1);

    // The cached document is still advertised by the degraded gateway.
    let (status, body) = stack.post_to(&gateway, "/SOAP/iti38", iti38(cached)).await;
    assert_eq!(status, 200);
    assert_eq!(unique_id(&body).as_deref(), Some(uid.as_str()), "{body}");

    // The broker comes back: readiness and prefetch recover without a restart.
    broker.unstall().await;
    let ready = eventually(15, || async {
        let (status, body) = readiness(&ops).await;
        (status == 200 && body.contains("\"status\":\"ready\"")).then_some(())
    })
    .await;
    assert!(ready.is_some(), "ready again once RabbitMQ answers");
    let (status, body) = stack.post_to(&gateway, "/SOAP/iti38", iti38(fresh)).await;
    assert_eq!(status, 200);
    assert!(
        unique_id(&body).is_some(),
        "a job started and finished: {body}"
    );
    stack.stop().await;
}
