//! How jobs fail: a permanent upstream refusal is answered as a typed RegistryError and
//! dead-lettered with its reason (no retry storm); a transient failure is retried and then
//! succeeds; a job slower than the wait deadline answers XDSRegistryBusy.

mod support;

use std::time::Duration;

use support::{Options, Stack, eventually, iti38, take_message, unique_id};
use xhuma_common::queue::{HEADER_REASON, header_str};
use xhuma_simulator::{SimService, Simulator};

/// The reason header of the first job on the stack's dead-letter queue (waits up to 10 s).
async fn dead_letter_reason(stack: &Stack) -> String {
    let dead = format!("{}.dead", stack.prefix);
    let msg = eventually(10, || take_message(&stack.prefix, &dead))
        .await
        .expect("job dead-lettered");
    header_str(msg.delivery.properties.headers().as_ref(), HEADER_REASON).expect("reason header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permanent_refusal_is_a_registry_error_and_dead_lettered() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    // nhs-sim: this patient dissented to sharing (GP Connect 403 NO_PATIENT_CONSENT).
    let nhs = "9690938576";
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ResponseStatusType:Failure"), "{body}");
    assert!(
        body.contains("did not permit access"),
        "typed reason: {body}"
    );
    assert!(
        !body.contains("NO_PATIENT_CONSENT"),
        "no upstream detail leaks: {body}"
    );

    let reason = dead_letter_reason(&stack).await;
    assert!(reason.contains("upstream"), "reason: {reason}");
    // 403 is not retried: one call, however long we wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stack.sim.counters().await.gpconnect, 1, "no retry storm");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_are_retried_then_succeed() {
    // More 503s than the client's own retries (3): the job itself must go round a retry tier.
    let sim = Simulator::builder().fail_next(SimService::Gpconnect, 5, 503);
    let stack = Stack::start(sim, Options::default()).await;
    let (status, body) = stack.post("/SOAP/iti38", iti38("9690937286")).await;
    assert_eq!(status, 200, "{body}");
    assert!(unique_id(&body).is_some(), "document after retries: {body}");
    let calls = stack.sim.counters().await.gpconnect;
    assert!(calls >= 6, "5 failures then a success, got {calls} calls");
    assert!(
        take_message(&stack.prefix, &format!("{}.dead", stack.prefix))
            .await
            .is_none(),
        "nothing dead-lettered"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deadline_expiry_answers_busy_and_the_job_still_lands() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_secs(2));
    let opts = Options {
        workers: 1,
        env: vec![("XHUMA_JOB_WAIT_TIMEOUT_MS", "300".into())],
        ..Default::default()
    };
    let stack = Stack::start(sim, opts).await;
    let nhs = "9690937286";
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("XDSRegistryBusy"), "{body}");
    // The job was not abandoned: a later query finds the document.
    let found = eventually(15, || async {
        let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
        unique_id(&body)
    })
    .await;
    assert!(found.is_some(), "document after the job finished");
    assert_eq!(stack.sim.counters().await.gpconnect, 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restricted_patient_never_reaches_gp_connect() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    // nhs-sim: an S-flag (restricted) record.
    let nhs = "9690938533";
    let (status, body) = stack.post("/SOAP/iti55", support::iti55(nhs)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("<subject1"),
        "no match revealed for a restricted record: {body}"
    );
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("XDSUnknownPatientId"), "{body}");
    assert!(!body.to_lowercase().contains("restricted"), "{body}");
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        0,
        "GP Connect never called"
    );
    stack.stop().await;
}

/// A provider that answers with another patient's record: the worker compares the record's
/// Patient with the job's, dead-letters the job with its reason, caches nothing, and the EHR
/// gets a RegistryError, never the other patient's C-CDA.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_patients_record_is_never_cached_or_served() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let (asked, other) = ("9690937286", "9690937278");
    stack.sim.swap_gpconnect_record(
        xhuma_common::NhsNumber::parse(asked).expect("nhs"),
        Some(xhuma_common::NhsNumber::parse(other).expect("nhs")),
    );
    let (status, body) = stack.post("/SOAP/iti38", iti38(asked)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ResponseStatusType:Failure"), "{body}");
    assert!(
        unique_id(&body).is_none(),
        "a document was advertised: {body}"
    );
    let reason = dead_letter_reason(&stack).await;
    assert!(reason.contains("wrong_patient"), "reason: {reason}");
    let cached = stack
        .records
        .cache()
        .document_for(xhuma_common::NhsNumber::parse(asked).expect("nhs"))
        .await
        .expect("redis");
    assert!(cached.is_none(), "another patient's record was cached");
    assert_eq!(stack.sim.counters().await.gpconnect, 1, "not retried");
    stack.stop().await;
}

/// A job message is not trusted to steer the GP Connect call: one carrying an endpoint
/// address on a host the configuration does not allow (or not https) is dead-lettered, and
/// nothing is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_carrying_a_foreign_endpoint_is_refused() {
    let stack = Stack::start(
        Simulator::builder(),
        Options {
            env: vec![("XHUMA_NHS_GPC_ALLOWED_HOSTS", ".nhs.uk".into())],
            ..Options::default()
        },
    )
    .await;
    let nhs = xhuma_common::NhsNumber::parse("9690937286").expect("nhs");
    let mut job = xhuma_common::job::PrefetchJob::new(
        nhs,
        xhuma_common::identity::Requester::default(),
        "hostile-job".into(),
    );
    job.endpoint = Some(xhuma_common::nhs::ProviderEndpoint {
        ods: "B82617".into(),
        asid: "918999198738".into(),
        address: "https://collector.evil.example/STU3/1/gpconnect".into(),
    });
    let headers = xhuma_common::queue::job_headers("hostile-job", 0, None);
    stack
        .records
        .amqp()
        .publish_to_stage(
            xhuma_common::queue::Stage::GpConnect,
            &job,
            headers,
            &job.job_id.to_string(),
        )
        .await
        .expect("published");
    let reason = dead_letter_reason(&stack).await;
    assert!(reason.contains("upstream"), "reason: {reason}");
    let counters = stack.sim.counters().await;
    assert_eq!(counters.gpconnect, 0, "GP Connect was called");
    assert_eq!(counters.ssp, 0, "the SSP was called");
    stack.stop().await;
}
