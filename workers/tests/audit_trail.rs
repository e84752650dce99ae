//! The audit trail of an end-to-end run: the ITI-55, ITI-38 and ITI-39 transactions and the
//! worker's PDS-free GP Connect call land in PostgreSQL (via the audit queue and `xhuma-audit`)
//! with who asked (from the SAML assertion), which patient, the document and the Ssp-TraceID.

mod support;

use std::time::Duration;

use support::{Options, Stack, eventually, iti38, iti39, iti55, unique_id};
use tokio_util::sync::CancellationToken;
use xhuma_simulator::Simulator;

const DB: &str = "postgres://postgres@127.0.0.1:5432/test";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_run_is_audited_in_postgres() {
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let schema = format!("audit_{}", stack.prefix);
    let vars = [
        ("XHUMA_QUEUE_PREFIX", stack.prefix.clone()),
        ("XHUMA_AUDIT_DATABASE_URL", DB.to_string()),
        ("XHUMA_AUDIT_DATABASE_SCHEMA", schema.clone()),
        ("XHUMA_AUDIT_LISTEN", "127.0.0.1:0".to_string()),
        ("XHUMA_AUDIT_BATCH_WAIT_MS", "50".to_string()),
    ];
    let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let config = xhuma_audit::AuditConfig::from_lookup(&lookup).expect("audit config");
    let auditor = xhuma_audit::Auditor::connect(config)
        .await
        .expect("auditor");
    let stop = CancellationToken::new();
    let a = auditor.clone();
    let s = stop.clone();
    tokio::spawn(async move { a.run(s).await });

    let nhs = "9690937286";
    stack.post("/SOAP/iti55", iti55(nhs)).await;
    let (_, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    let uid = unique_id(&body).expect("document");
    let (status, _) = stack.post("/SOAP/iti39", iti39(&uid)).await;
    assert_eq!(status, 200);

    let (db, conn) = tokio_postgres::connect(DB, tokio_postgres::NoTls)
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
