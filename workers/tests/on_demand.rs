//! On-Demand mode (`XHUMA_ITI38_ON_DEMAND=true`): ITI-38 answers at once with an On-Demand
//! DocumentEntry while the prefetch runs, and ITI-39 for that uniqueId waits for the job and
//! returns the document.

mod support;

use std::time::Duration;

use support::{Options, Stack, documents, iti38, iti39, unique_id};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iti38_answers_on_demand_and_iti39_waits_for_the_job() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(1500));
    let opts = Options {
        env: vec![("XHUMA_ITI38_ON_DEMAND", "true".into())],
        ..Default::default()
    };
    let stack = Stack::start(sim, opts).await;
    let nhs = "9690937278";
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "{body}");
    let number = xhuma_common::NhsNumber::parse(nhs).expect("valid");
    let cached = stack
        .records
        .cache()
        .document_for(number)
        .await
        .expect("redis");
    assert!(cached.is_none(), "answered before the document existed");
    // On-Demand Document Entry objectType (IHE ITI TF-3 4.2.5.2).
    assert!(
        body.contains("urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"),
        "{body}"
    );
    let uid = unique_id(&body).expect("On-Demand entry carries the future uniqueId");

    let (status, body) = stack.post("/SOAP/iti39", iti39(&uid)).await;
    assert_eq!(status, 200, "{body}");
    let docs = documents(&body);
    assert_eq!(docs.len(), 1, "{body}");
    assert!(String::from_utf8_lossy(&docs[0]).contains("<ClinicalDocument"));
    assert_eq!(stack.sim.counters().await.gpconnect, 1);
    stack.stop().await;
}
