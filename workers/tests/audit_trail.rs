//! The audit trail of an end-to-end run: the ITI-55, ITI-38 and ITI-39 transactions and the
//! worker's GP Connect call land in PostgreSQL (via the audit queue and `xhuma-audit`)
//! with who asked (from the SAML assertion), which patient, the document and the Ssp-TraceID.

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{Options, Stack, eventually, iti38, iti39, iti55, unique_id};
use xhuma_common::config::Secret;
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_run_is_audited_in_postgres() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let (schema, stop) = support::start_auditor(&stack).await;

    let nhs = "9690937286";
    stack.post("/SOAP/iti55", iti55(nhs)).await;
    let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let uid = unique_id(&body).expect("document");
    let (status, _) = stack.post("/SOAP/iti39", iti39(&uid)).await;
    assert_eq!(status, 200);

    let (db, conn) = tokio_postgres::connect(support::AUDIT_DB, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(conn);
    let kinds = eventually(20, || async {
        let rows = db
            .query(
                &format!(
                    "SELECT kind FROM {schema}.audit_event WHERE nhs_number = $1 ORDER BY event_time"
                ),
                &[&nhs],
            )
            .await
            .ok()?;
        let kinds: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        ["iti55", "iti38", "iti39", "gp_connect"]
            .iter()
            .all(|k| kinds.iter().any(|x| x == k))
            .then_some(kinds)
    })
    .await
    .expect("all four kinds audited");
    assert!(kinds.len() >= 4, "{kinds:?}");

    let row = db
        .query_one(
            &format!(
                "SELECT user_id, user_org_id, purpose_of_use_code, outcome, document_unique_id
                 FROM {schema}.audit_event WHERE nhs_number = $1 AND kind = 'iti39'"
            ),
            &[&nhs],
        )
        .await
        .expect("iti39 row");
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("EXAMPLE, Clinician")
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("urn:oid:2.16.840.1.113883.2.1.3.34.9999")
    );
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("TREATMENT")
    );
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("success"));
    assert_eq!(
        row.get::<_, Option<String>>(4).as_deref(),
        Some(uid.as_str())
    );

    let ssp: Option<String> = db
        .query_one(
            &format!(
                "SELECT ssp_trace_id FROM {schema}.audit_event WHERE nhs_number = $1 AND kind = 'gp_connect'"
            ),
            &[&nhs],
        )
        .await
        .expect("gp connect row")
        .get(0);
    assert!(ssp.is_some_and(|s| s.len() >= 32), "Ssp-TraceID recorded");

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = db
        .execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
        .await;
    stack.stop().await;
}

/// A document is released only after its audit event is confirmed by the broker: with the
/// gateway's RabbitMQ connection cut, ITI-39 answers XDSRepositoryError and no C-CDA leaves;
/// with `XHUMA_AUDIT_FAIL_OPEN=true` it is served. Once the broker is back, it is served (and
/// audited) again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_document_leaves_without_its_audit_record() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let nhs = "9690937286";
    stack.post("/SOAP/iti55", iti55(nhs)).await;
    let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let uid = unique_id(&body).expect("document");
    for fail_open in [false, true] {
        let broker = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
        let gateway = stack
            .another_gateway_with(|cfg| {
                cfg.amqp.url = Secret::new(format!("amqp://guest:guest@{}/%2f", broker.addr));
                cfg.pipeline.audit_fail_open = fail_open;
                cfg.pipeline.audit_confirm_timeout = Duration::from_secs(2);
            })
            .await;
        broker.cut().await;
        let (status, body) = stack.post_to(&gateway, "/SOAP/iti39", iti39(&uid)).await;
        assert_eq!(status, 200, "{body}");
        let served = !support::documents(&body).is_empty();
        if fail_open {
            assert!(served, "fail-open serves the document: {body}");
        } else {
            assert!(!served, "a document left without its audit record");
            assert!(body.contains("XDSRepositoryError"), "{body}");
        }
        broker.restore();
        let again = eventually(30, || async {
            let (_, body) = stack.post_to(&gateway, "/SOAP/iti39", iti39(&uid)).await;
            (!support::documents(&body).is_empty()).then_some(())
        })
        .await;
        assert!(again.is_some(), "not served again once RabbitMQ was back");
    }
    stack.stop().await;
}
