//! Prefetch hides the upstream: with GP Connect taking 2 s, an ITI-38 sent 2.5 s after the
//! ITI-55 answer finds the document already cached. (The latency number itself is measured by
//! `deploy/local/measure-prefetch` and written in docs/performance.md, not asserted here.)

mod support;

use std::time::{Duration, Instant};

use support::{Options, Stack, iti38, iti55, unique_id};
use xhuma_common::NhsNumber;
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_prefetches_so_the_query_is_served_from_cache() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_secs(2));
    let stack = Stack::start(
        sim,
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let nhs = "9690937286";
    let (status, _) = stack.post("/SOAP/iti55", iti55(nhs)).await;
    assert_eq!(status, 200);

    // No query has been sent: the document arrives in the cache by the prefetch alone
    // (GP Connect's 2 s, then conversion; bounded wait, not a timing assertion).
    let number = NhsNumber::parse(nhs).expect("valid");
    let cached = support::eventually(20, || async {
        stack
            .records
            .cache()
            .document_for(number)
            .await
            .expect("redis")
    })
    .await;
    assert!(cached.is_some(), "the prefetch did not cache the record");
    let started = Instant::now();
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(
        unique_id(&body),
        cached.map(|m| m.unique_id),
        "served the cached document"
    );
    assert_eq!(stack.sim.counters().await.gpconnect, 1);
    eprintln!("ITI-38 after prefetch answered in {took:?} (debug build)");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_prefetch_when_the_demographic_check_fails() {
    let opts = Options {
        env: vec![("XHUMA_XCPD_DEMOGRAPHIC_CHECK", "true".into())],
        ..Default::default()
    };
    let stack = Stack::start(Simulator::builder(), opts).await;
    let nhs = "9690937286";
    // The example query says born 1925-04-21; claim another date.
    let query = iti55(nhs).replace("19250421", "19990101");
    let (status, body) = stack.post("/SOAP/iti55", query).await;
    assert_eq!(status, 200);
    assert!(!body.contains("<subject1"), "no match: {body}");
    let number = NhsNumber::parse(nhs).expect("valid");
    let lease = stack.records.cache().lease(number).await.expect("redis");
    assert!(
        lease.is_none(),
        "nothing enqueued for a patient we did not match"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.sim.counters().await.gpconnect, 0);
    stack.stop().await;
}
