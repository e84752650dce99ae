//! GP Connect's demographic cross-check (GEN-07), on by default, against the running stack:
//! a provider that answers with the requested NHS number but another person's birth date,
//! gender and surname gets the job dead-lettered (`demographic_mismatch`) with a security alert
//! in PostgreSQL, nothing cached and a RegistryError for the EHR; the same record is served
//! when an operator turns the check off, so the check is what refused it; and ordinary
//! records, whose GP Connect and PDS demographics agree, are still served.

mod support;

use support::{Options, Stack, eventually, iti38, take_message, unique_id};
use xhuma_common::NhsNumber;
use xhuma_common::queue::{HEADER_REASON, header_str};
use xhuma_simulator::Simulator;

const NHS: &str = "9690937286";

fn nhs() -> NhsNumber {
    NhsNumber::parse(NHS).expect("valid NHS number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_impostor_record_is_refused_with_a_security_alert() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let (schema, stop) = support::start_auditor(&stack).await;
    stack.sim.gpconnect_impostor(nhs(), true);

    let (status, body) = stack.post("/SOAP/iti38", iti38(NHS)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ResponseStatusType:Failure"), "{body}");
    assert!(
        unique_id(&body).is_none(),
        "a document was advertised: {body}"
    );
    assert!(!body.contains("IMPOSTOR"), "no record detail leaks: {body}");

    let dead = format!("{}.dead", stack.prefix);
    let msg = eventually(10, || take_message(&stack.prefix, &dead))
        .await
        .expect("job dead-lettered");
    let reason = header_str(msg.delivery.properties.headers().as_ref(), HEADER_REASON)
        .expect("reason header");
    assert!(reason.contains("demographic_mismatch"), "reason: {reason}");
    assert!(
        !reason.contains("1900"),
        "no values in the reason: {reason}"
    );
    let cached = stack
        .records
        .cache()
        .document_for(nhs())
        .await
        .expect("redis");
    assert!(cached.is_none(), "the impostor record was cached");
    assert_eq!(stack.sim.counters().await.gpconnect, 1, "not retried");

    let (db, conn) = tokio_postgres::connect(support::AUDIT_DB, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(conn);
    let query = format!(
        "SELECT detail, outcome FROM {schema}.audit_event \
         WHERE kind = 'security_alert' AND nhs_number = $1"
    );
    let rows = eventually(20, || async {
        let rows = db.query(&query, &[&NHS]).await.ok()?;
        (!rows.is_empty()).then_some(rows)
    })
    .await
    .expect("a security alert in PostgreSQL");
    let detail: String = rows[0].get(0);
    assert!(detail.contains("GEN-07"), "{detail}");
    assert!(
        detail.contains("birth_date"),
        "the first field that differs: {detail}"
    );
    assert!(
        !detail.contains("IMPOSTOR") && !detail.contains("1900"),
        "{detail}"
    );
    stop.cancel();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_check_off_the_same_record_is_served() {
    let options = Options {
        env: vec![("XHUMA_GPC_DEMOGRAPHIC_CHECK", "false".into())],
        ..Options::default()
    };
    let stack = Stack::start(Simulator::builder(), options).await;
    stack.sim.gpconnect_impostor(nhs(), true);
    let (status, body) = stack.post("/SOAP/iti38", iti38(NHS)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        unique_id(&body).is_some(),
        "served without the check: {body}"
    );
    stack.stop().await;
}

/// Every fixture patient nhs-sim serves passes the check (its GP Connect record carries
/// PDS's birth date and gender, as the live services agree), and so do synthetic patients and
/// the current record of a superseded number: no job is refused for its demographics, and
/// every patient whose practice offers GP Connect gets a document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agreeing_records_are_served() {
    let stack = Stack::start(Simulator::builder().synthetic(3), Options::default()).await;
    let patients: Vec<_> = stack
        .sim
        .patients()
        .into_iter()
        .filter(|p| {
            p.gp_connect == "record"
                && matches!(
                    p.scenario.as_str(),
                    "fixture record" | "synthetic" | "current record of a superseded number"
                )
        })
        .collect();
    let mut served = 0;
    for chunk in patients.chunks(4) {
        let answers = futures_util::future::join_all(
            chunk
                .iter()
                .map(|p| stack.post("/SOAP/iti38", iti38(&p.nhs_number))),
        )
        .await;
        for (status, body) in answers {
            assert_eq!(status, 200, "{body}");
            served += usize::from(unique_id(&body).is_some());
        }
    }
    // The edge-case fixtures (no Patient, a practice without an endpoint, …) fail for their
    // own reasons; none may fail for its demographics.
    assert!(served >= 40, "{served} of {} served", patients.len());
    let dead = format!("{}.dead", stack.prefix);
    while let Some(msg) = take_message(&stack.prefix, &dead).await {
        let reason = header_str(msg.delivery.properties.headers().as_ref(), HEADER_REASON)
            .unwrap_or_default();
        assert!(!reason.contains("demographic_mismatch"), "reason: {reason}");
    }
    stack.stop().await;
}
