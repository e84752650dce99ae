//! Readiness follows the dependencies: `/health/ready` on the gateway and on a worker turns 503
//! when Redis goes away and back to 200 when it returns (liveness stays 200). Without RabbitMQ
//! a worker is not ready; the gateway stays ready, degraded (it still serves cached reads). A
//! worker whose broker is back is ready only once its consumers consume again, and that comes
//! promptly (chaos finding 2 in docs/reliability.md).

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use support::proxy::Proxy;
use support::{Options, Stack, eventually, iti38, unique_id};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use xhuma_common::config::Secret;
use xhuma_common::queue::Stage;
use xhuma_gateway::records::Records;
use xhuma_simulator::Simulator;
use xhuma_workers::Worker;
use xhuma_workers::consumer::{ConsumerState, RECONNECT_MAX};

async fn status(app: &axum::Router, path: &str) -> u16 {
    let req = Request::get(path).body(Body::empty()).expect("request");
    app.clone()
        .oneshot(req)
        .await
        .expect("response")
        .status()
        .as_u16()
}

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

async fn becomes(app: &axum::Router, want: u16) -> bool {
    eventually(15, || async {
        (status(app, "/health/ready").await == want).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_flips_with_redis_and_rabbitmq() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let amqp_proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let redis_proxy = Proxy::start("127.0.0.1:6379".parse().expect("addr")).await;

    let mut gw_cfg = xhuma_gateway::GatewayConfig::from_lookup(&|k: &str| match k {
        "XHUMA_QUEUE_PREFIX" | "XHUMA_REDIS_PREFIX" => Some(stack.prefix.clone()),
        "XHUMA_NHS_API_KEY" | "XHUMA_NHS_SIGNING_KEY_PATH" | "XHUMA_NHS_ASID" => Some("x".into()),
        "XHUMA_SAML_AUDIENCE" => Some("https://xhuma.test/SOAP".into()),
        _ => None,
    })
    .expect("config");
    gw_cfg.amqp.url = Secret::new(format!("amqp://guest:guest@{}/%2f", amqp_proxy.addr));
    gw_cfg.redis.url = Secret::new(format!("redis://{}/0", redis_proxy.addr));
    gw_cfg.pipeline.nhs = xhuma_common::nhs::NhsConfig::for_simulator(&stack.sim.base_url());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let records = Records::connect(
        &gw_cfg.amqp,
        &gw_cfg.redis,
        gw_cfg.pipeline.clone(),
        shutdown.clone(),
    )
    .await
    .expect("records");
    let metrics = xhuma_common::telemetry::install_metrics();
    let gateway = xhuma_gateway::ops::router(records, metrics.clone());

    let mut w_cfg = stack.worker_config();
    w_cfg.amqp.url = gw_cfg.amqp.url.clone();
    w_cfg.redis.url = gw_cfg.redis.url.clone();
    let worker = Worker::connect(w_cfg).await.expect("worker");
    let worker_stop = CancellationToken::new();
    let worker_run = tokio::spawn(worker.clone().run(worker_stop.clone()));
    let worker_ops = xhuma_workers::ops::router(worker, metrics);

    for app in [&gateway, &worker_ops] {
        assert!(
            becomes(app, 200).await,
            "ready (the worker once it consumes)"
        );
    }
    redis_proxy.cut().await;
    for app in [&gateway, &worker_ops] {
        assert!(becomes(app, 503).await, "not ready without Redis");
        assert_eq!(status(app, "/health/live").await, 200, "still alive");
    }
    redis_proxy.restore();
    for app in [&gateway, &worker_ops] {
        assert!(becomes(app, 200).await, "ready again with Redis back");
    }
    amqp_proxy.cut().await;
    assert!(
        becomes(&worker_ops, 503).await,
        "no worker without RabbitMQ"
    );
    assert_eq!(
        status(&gateway, "/health/ready").await,
        200,
        "gateway degraded"
    );
    amqp_proxy.restore();
    for app in [&gateway, &worker_ops] {
        assert!(becomes(app, 200).await, "ready again with RabbitMQ back");
    }
    worker_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), worker_run).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_with_every_request_permit_taken_reports_saturated() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(2500));
    let stack = Stack::start(sim, Options::default()).await;
    let (gateway, records, load) = stack
        .gateway_with_records(|cfg| cfg.max_concurrent_requests = 1)
        .await;
    let metrics = xhuma_common::telemetry::install_metrics();
    let ops = xhuma_gateway::ops::router_with_load(records, metrics, Some(load));
    assert_eq!(status(&ops, "/health/ready").await, 200);

    // One ITI-38 waiting on a slow GP Connect holds the only permit.
    let http = reqwest::Client::new();
    let body = iti38("9690937286");
    let waiting = tokio::spawn(async move {
        let r = http
            .post(format!("{gateway}/SOAP/iti38"))
            .header("content-type", "application/soap+xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("request");
        r.text().await.expect("body")
    });
    assert!(
        becomes(&ops, 503).await,
        "saturated while the permit is held"
    );
    let answer = waiting.await.expect("join");
    assert!(
        unique_id(&answer).is_some(),
        "the waiting request was served: {answer}"
    );
    assert!(becomes(&ops, 200).await, "ready again once it is released");
    stack.stop().await;
}

/// The broker is cut for long enough that a doubling backoff would have grown (it reached 10 s
/// before), then restored with a job waiting: readiness is not 200 while any consumer is not
/// consuming, and the job is done within the capped backoff plus the job's own time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_is_ready_only_once_its_consumers_consume_again() {
    let opts = Options {
        no_workers: true,
        ..Default::default()
    };
    let stack = Stack::start(Simulator::builder(), opts).await;
    let broker = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let mut cfg = stack.worker_config();
    cfg.amqp.url = Secret::new(format!("amqp://guest:guest@{}/%2f", broker.addr));
    let worker = Worker::connect(cfg).await.expect("worker");
    let stop = CancellationToken::new();
    let run = tokio::spawn(worker.clone().run(stop.clone()));
    let ops =
        xhuma_workers::ops::router(worker.clone(), xhuma_common::telemetry::install_metrics());
    assert!(becomes(&ops, 200).await, "ready once consuming");

    broker.cut().await;
    let reconnecting = eventually(15, || async {
        let (status, body) = readiness(&ops).await;
        (status == 503 && body.contains("\"reconnecting\"")).then_some(body)
    })
    .await;
    assert!(
        reconnecting.is_some(),
        "not ready; the body names the consumers reconnecting"
    );
    tokio::time::sleep(Duration::from_secs(8)).await;

    broker.restore();
    let back = Instant::now();
    // A job published as the broker comes back: an ITI-38 through the stack's gateway, whose
    // own broker connection was never cut, waits on it.
    let (http, gateway) = (stack.http.clone(), stack.gateway.clone());
    let job = tokio::spawn(async move {
        http.post(format!("{gateway}/SOAP/iti38"))
            .header("content-type", "application/soap+xml; charset=utf-8")
            .body(iti38("9690937278"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body")
    });
    let mut ready = None;
    while ready.is_none() && back.elapsed() < Duration::from_secs(15) {
        let (status, body) = readiness(&ops).await;
        if status == 200 {
            for stage in Stage::ALL {
                assert_eq!(
                    worker.consumers.get(stage),
                    Some(ConsumerState::Consuming),
                    "200 while the {} consumer is not consuming: {body}",
                    stage.as_str()
                );
            }
            ready = Some(body);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let ready = ready.expect("ready again once the consumers are back");
    assert!(
        ready.contains("\"sds\":\"consuming\"") && ready.contains("\"gpconnect\":\"consuming\""),
        "{ready}"
    );
    let answer = job.await.expect("join");
    assert!(unique_id(&answer).is_some(), "the job ran: {answer}");
    assert!(
        back.elapsed() < RECONNECT_MAX + Duration::from_secs(5),
        "the waiting job ran within the capped reconnect backoff: {:?}",
        back.elapsed()
    );
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
    stack.stop().await;
}
