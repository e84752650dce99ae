//! AuditSink → P.audit → consumer → rows in PostgreSQL with the right fields.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::time::Duration;

use support::Harness;
use xhuma_common::audit::{AuditKind, AuditOutcome, AuditSink};
use xhuma_common::queue::Amqp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_the_sink_become_rows() {
    let h = Harness::start("pipeline").await;
    let publisher = Amqp::connect(&h.auditor.config.amqp, "audit-test-publisher")
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = AuditSink::spawn(publisher.clone(), shutdown.clone());

    let kinds = AuditKind::ALL;
    let mut ids = Vec::new();
    for i in 0..25 {
        let kind = kinds[i % kinds.len()];
        let mut event = support::event(kind, AuditOutcome::Success, &format!("corr-{i}"));
        if kind == AuditKind::GpConnect {
            event = event.ssp_trace_id(format!("ssp-{i}")).detail("http 200");
        }
        if kind == AuditKind::Iti39 {
            event = event.document("2.25.1234");
        }
        ids.push(event.id);
        sink.emit(event);
    }
    // An event without requester or patient (a malformed request) is stored too.
    let anonymous =
        xhuma_common::audit::AuditEvent::new(AuditKind::Iti55, AuditOutcome::Invalid, "corr-anon")
            .detail("bad envelope");
    sink.emit(anonymous.clone());
    sink.flush(Duration::from_secs(10)).await;

    assert_eq!(h.wait_rows("true", 26).await, 26);

    let row =
        h.db.query_one(
            &format!(
                "SELECT kind, outcome, nhs_number, patient_key, user_id, user_org, user_org_id,
                        user_ods_code, user_role_code, user_role_name, purpose_of_use_code,
                        purpose_of_use_name, home_community_id, saml_issuer, correlation_id,
                        ssp_trace_id, document_unique_id, source, detail
                 FROM {}.audit_event WHERE kind = 'gp_connect' AND correlation_id = 'corr-4'",
                h.schema
            ),
            &[],
        )
        .await
        .unwrap();
    let text = |i: usize| row.get::<_, Option<String>>(i);
    assert_eq!(text(0).as_deref(), Some("gp_connect"));
    assert_eq!(text(1).as_deref(), Some("success"));
    assert_eq!(text(2).as_deref(), Some("9690937278"));
    assert_eq!(text(3).as_deref(), Some("pk-0123456789abcdef"));
    assert_eq!(text(4).as_deref(), Some("CONE, Stephen"));
    assert_eq!(text(5).as_deref(), Some("Example Hospital"));
    assert_eq!(
        text(6).as_deref(),
        Some("urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100")
    );
    assert_eq!(text(7).as_deref(), Some("RX1"));
    assert_eq!(text(8).as_deref(), Some("224608005"));
    assert_eq!(text(9).as_deref(), Some("Administrative healthcare staff"));
    assert_eq!(text(10).as_deref(), Some("TREATMENT"));
    assert_eq!(text(11).as_deref(), Some("Treatment"));
    assert_eq!(
        text(12).as_deref(),
        Some("urn:oid:1.2.840.114350.1.13.525.3.7.3.688884")
    );
    assert_eq!(text(13).as_deref(), Some("CN=Epic, O=Example"));
    assert_eq!(text(14).as_deref(), Some("corr-4"));
    assert_eq!(text(15).as_deref(), Some("ssp-4"));
    assert_eq!(text(16), None);
    assert_eq!(text(17).as_deref(), Some("gateway@test"));
    assert_eq!(text(18).as_deref(), Some("http 200"));

    // The event time survives the trip (to the microsecond PostgreSQL keeps).
    let first = &ids[0];
    let at: time::OffsetDateTime =
        h.db.query_one(
            &format!(
                "SELECT event_time FROM {}.audit_event WHERE id = $1",
                h.schema
            ),
            &[first],
        )
        .await
        .unwrap()
        .get(0);
    assert!(at.unix_timestamp() > 1_700_000_000);

    let anon =
        h.db.query_one(
            &format!(
                "SELECT outcome, nhs_number, user_id, detail FROM {}.audit_event WHERE id = $1",
                h.schema
            ),
            &[&anonymous.id],
        )
        .await
        .unwrap();
    assert_eq!(anon.get::<_, String>(0), "invalid");
    assert_eq!(anon.get::<_, Option<String>>(1), None);
    assert_eq!(anon.get::<_, Option<String>>(2), None);
    assert_eq!(
        anon.get::<_, Option<String>>(3).as_deref(),
        Some("bad envelope")
    );

    // The README's two questions answer from the indexes.
    let by_patient = h
        .count("nhs_number = '9690937278' AND user_id IS NOT NULL")
        .await;
    assert_eq!(by_patient, 25);
    let by_user = h
        .count("user_id = 'CONE, Stephen' AND user_org_id = 'urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100'")
        .await;
    assert_eq!(by_user, 25);

    shutdown.cancel();
    publisher.close().await;
    h.finish().await;
}
