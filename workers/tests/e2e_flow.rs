//! End to end: ITI-55 (or ITI-47) → ITI-38 → ITI-39 through the gateway, RabbitMQ, two workers,
//! Redis and `nhs-sim`, for several fixture patients at once; every document returned passes
//! the CDA schema and C-CDA schematron (`validate-ccda`).

mod support;

use support::{
    Options, Stack, documents, iti38, iti39, iti47, iti55, unique_id, validate, write_temp,
};
use xhuma_simulator::Simulator;

const PATIENTS: [&str; 3] = ["9690937286", "9690937278", "9726908728"];

async fn discover_query_retrieve(stack: &Stack, nhs: &str, pdq: bool) -> Vec<u8> {
    let (status, body) = if pdq {
        stack.post("/SOAP/iti47", iti47(nhs)).await
    } else {
        stack.post("/SOAP/iti55", iti55(nhs)).await
    };
    assert_eq!(status, 200, "discovery for {nhs}: {body}");
    assert!(
        body.contains("<typeCode code=\"AA\"/>"),
        "discovery AA for {nhs}: {body}"
    );
    assert!(
        body.contains(&format!("extension=\"{nhs}\"")),
        "patient id echoed: {body}"
    );

    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "ITI-38 for {nhs}: {body}");
    assert!(
        body.contains("ResponseStatusType:Success")
            || body.contains("ResponseStatusType:PartialSuccess"),
        "ITI-38 success for {nhs}: {body}"
    );
    let uid = unique_id(&body).expect("ITI-38 advertises a uniqueId");

    let (status, body) = stack.post("/SOAP/iti39", iti39(&uid)).await;
    assert_eq!(status, 200, "ITI-39 for {nhs}: {body}");
    let docs = documents(&body);
    assert_eq!(docs.len(), 1, "one document for {nhs}: {body}");
    docs.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iti55_iti38_iti39_returns_valid_ccda_for_several_patients() {
    let stack = Stack::start(
        Simulator::builder(),
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let runs = PATIENTS
        .iter()
        .map(|nhs| discover_query_retrieve(&stack, nhs, false));
    let docs = futures_util::future::join_all(runs).await;
    let mut files = Vec::new();
    for (nhs, doc) in PATIENTS.iter().zip(&docs) {
        let text = String::from_utf8_lossy(doc);
        assert!(text.contains("<ClinicalDocument"), "C-CDA for {nhs}");
        assert!(
            text.contains(&format!("extension=\"{nhs}\"")),
            "recordTarget is {nhs}"
        );
        files.push(write_temp(&format!("e2e-{nhs}.xml"), doc));
    }
    let counters = stack.sim.counters().await;
    assert_eq!(
        counters.gpconnect,
        PATIENTS.len() as u64,
        "one GP Connect call per patient"
    );
    // The one US-realm rule documented in docs/ccda-conformance.md (realmCode is GB, not US).
    let mut args = vec!["--ignore", "a-1198-16791"];
    args.extend(files.iter().filter_map(|p| p.to_str()));
    assert!(
        validate("validate-ccda", &args),
        "documents pass validate-ccda"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iti47_starts_the_prefetch_too() {
    let stack = Stack::start(
        Simulator::builder(),
        Options {
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let doc = discover_query_retrieve(&stack, "9690937286", true).await;
    assert!(String::from_utf8_lossy(&doc).contains("<ClinicalDocument"));
    assert_eq!(stack.sim.counters().await.gpconnect, 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stages_run_in_separate_workers() {
    use xhuma_common::queue::Stage;
    let opts = Options {
        no_workers: true,
        ..Default::default()
    };
    let mut stack = Stack::start(Simulator::builder(), opts).await;
    stack.add_stage_worker(&[Stage::Sds]).await;
    stack.add_stage_worker(&[Stage::GpConnect]).await;
    let doc = discover_query_retrieve(&stack, "9690937294", false).await;
    assert!(String::from_utf8_lossy(&doc).contains("<ClinicalDocument"));
    stack.stop().await;
}
