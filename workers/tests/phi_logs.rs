//! No patient identifiers in the logs: an end-to-end run (discoveries, queries, retrievals, a
//! refused patient, an unknown patient) logged as JSON at info level, as in production, is
//! searched for every NHS number and patient name it used, and for bearer tokens.

mod support;

use support::logs::Captured;
use support::{Options, Stack, iti38, iti39, iti55, unique_id};
use tracing_subscriber::EnvFilter;
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_run_logs_no_patient_identifiers() {
    let logs = Captured::default();
    let writer = logs.clone();
    // The simulator plays the NHS; only Xhuma's own logs are under test.
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter(EnvFilter::new("info,xhuma_simulator=off"))
        .with_writer(move || writer.clone())
        .init();

    let stack = Stack::start(
        Simulator::builder(),
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let found = ["9690937286", "9690937278"];
    let refused = "9690938576"; // no consent
    let unknown = "9476718943"; // not on PDS
    for nhs in found {
        let (_, body) = stack.post("/SOAP/iti55", iti55(nhs)).await;
        assert!(body.contains("AA"), "{body}");
        let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
        let uid = unique_id(&body).expect("document");
        let (status, _) = stack.post("/SOAP/iti39", iti39(&uid)).await;
        assert_eq!(status, 200);
    }
    let _ = stack.post("/SOAP/iti38", iti38(refused)).await;
    let _ = stack.post("/SOAP/iti55", iti55(unknown)).await;
    let _ = stack.post("/SOAP/iti38", iti38(unknown)).await;
    stack.stop().await;

    let text = logs.text();
    assert!(
        text.lines().count() > 10,
        "the run logged something: {text}"
    );
    for needle in found.iter().chain([&refused, &unknown]) {
        assert!(!text.contains(needle), "NHS number {needle} in logs");
    }
    for name in [
        "SKELLY",
        "Horace",
        "SAMUAL",
        "Lucien",
        "McCAIN",
        "EXAMPLE, Clinician",
    ] {
        assert!(!text.contains(name), "name {name} in logs");
    }
    assert!(!text.contains("Bearer "), "token in logs");
    assert!(!text.contains("eyJ"), "JWT in logs");
}
