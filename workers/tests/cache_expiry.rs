//! Cache expiry: once the document's TTL passes, a query fetches the record again.

mod support;

use std::time::Duration;

use support::{Options, Stack, iti38, unique_id};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_document_is_refetched() {
    let opts = Options {
        workers: 1,
        env: vec![("XHUMA_DOCUMENT_TTL_SECS", "1".into())],
        ..Default::default()
    };
    let stack = Stack::start(Simulator::builder(), opts).await;
    let nhs = "9690937278";
    let (_, first) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let first = unique_id(&first).expect("first document");
    let (_, again) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(
        unique_id(&again).as_deref(),
        Some(first.as_str()),
        "served from cache"
    );
    assert_eq!(stack.sim.counters().await.gpconnect, 1);

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, later) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let later = unique_id(&later).expect("refetched document");
    assert_ne!(later, first, "a new document after expiry");
    assert_eq!(stack.sim.counters().await.gpconnect, 2);
    stack.stop().await;
}
