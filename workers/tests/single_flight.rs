//! Single-flight per patient across gateways and workers: 50 simultaneous discoveries, or 50
//! simultaneous queries with nothing cached, or discoveries arriving all through a GP Connect
//! call that lasts several lease TTLs, or sixty discoveries dealt over three gateways, cause
//! exactly one GP Connect call.

mod support;

use std::time::Duration;

use support::{Options, Stack, iti38, iti55, unique_id};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_discoveries_one_gpconnect_call() {
    // A slow GP Connect keeps the job in flight while the 50 requests land.
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(500));
    let stack = Stack::start(
        sim,
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let nhs = "9690937286";
    let calls = (0..50).map(|_| stack.post("/SOAP/iti55", iti55(nhs)));
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200);
    assert!(unique_id(&body).is_some(), "document advertised: {body}");
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        1,
        "exactly one GP Connect call"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_cold_queries_one_gpconnect_call() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(300));
    let stack = Stack::start(
        sim,
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let nhs = "9690937278";
    let calls = (0..50).map(|_| stack.post("/SOAP/iti38", iti38(nhs)));
    let mut ids = std::collections::HashSet::new();
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        ids.insert(unique_id(&body).expect("every query answered with the document"));
    }
    assert_eq!(ids.len(), 1, "all 50 see the same document");
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        1,
        "exactly one GP Connect call"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gpconnect_slower_than_the_lease_ttl_still_one_call() {
    // The lease lasts 600 ms; GP Connect takes 3 s. Only the worker's renewals keep the
    // patient's lease alive while the call is in progress.
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(3000));
    let stack = Stack::start(
        sim,
        Options {
            workers: 2,
            env: vec![("XHUMA_LEASE_TTL_MS", "600".into())],
            ..Default::default()
        },
    )
    .await;
    let nhs = "9690937286";
    let (status, body) = stack.post("/SOAP/iti55", iti55(nhs)).await;
    assert_eq!(status, 200, "{body}");
    // Discoveries keep coming for five lease TTLs while the call is in flight.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, body) = stack.post("/SOAP/iti55", iti55(nhs)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200);
    assert!(unique_id(&body).is_some(), "document advertised: {body}");
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        1,
        "exactly one GP Connect call"
    );
    stack.stop().await;
}

/// Across gateways, for real: three gateways (each its own Redis pool, AMQP connection and
/// completion subscription, as separate processes would have) and two workers; sixty
/// discoveries and then sixty cold queries dealt round-robin across the gateways, all at once,
/// cause one GP Connect call, and every gateway advertises the same document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discoveries_spread_over_three_gateways_one_gpconnect_call() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(500));
    let stack = Stack::start(
        sim,
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let gateways = [
        stack.gateway.clone(),
        stack.another_gateway_with(|_| {}).await,
        stack.another_gateway_with(|_| {}).await,
    ];
    let nhs = "9690937286";
    let discoveries = (0..60).map(|i| stack.post_to(&gateways[i % 3], "/SOAP/iti55", iti55(nhs)));
    for (status, body) in futures_util::future::join_all(discoveries).await {
        assert_eq!(status, 200, "{body}");
    }
    let queries = (0..60).map(|i| stack.post_to(&gateways[i % 3], "/SOAP/iti38", iti38(nhs)));
    let mut ids = std::collections::HashSet::new();
    for (status, body) in futures_util::future::join_all(queries).await {
        assert_eq!(status, 200, "{body}");
        ids.insert(unique_id(&body).expect("every gateway advertises the document"));
    }
    assert_eq!(ids.len(), 1, "one document, whichever gateway answered");
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        1,
        "exactly one GP Connect call across three gateways"
    );
    stack.stop().await;
}
