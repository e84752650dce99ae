//! Redelivery and duplicate publishing: an event id is written once.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use lapin::types::FieldTable;
use support::Harness;
use xhuma_common::audit::{AuditKind, AuditOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_id_is_written_once() {
    let h = Harness::start("dup").await;
    let amqp = &h.auditor.amqp;
    let queue = amqp.names().audit();
    let dup = support::event(AuditKind::Iti38, AuditOutcome::Success, "corr-dup");
    let id = dup.id.to_string();
    // Three copies (a publisher retry after a lost confirm, a redelivery), in separate batches
    // and in the same batch, then a marker after them.
    amqp.publish_json("", &queue, &dup, FieldTable::default(), &id)
        .await
        .unwrap();
    assert_eq!(h.wait_rows("correlation_id = 'corr-dup'", 1).await, 1);
    for _ in 0..2 {
        amqp.publish_json("", &queue, &dup, FieldTable::default(), &id)
            .await
            .unwrap();
    }
    let marker = support::event(AuditKind::Iti39, AuditOutcome::Success, "corr-marker");
    amqp.publish_json("", &queue, &marker, FieldTable::default(), "m")
        .await
        .unwrap();
    assert_eq!(h.wait_rows("correlation_id = 'corr-marker'", 1).await, 1);
    // The marker came after the copies on one queue with one consumer: they were handled.
    assert_eq!(h.count("correlation_id = 'corr-dup'").await, 1);
    assert_eq!(h.count("true").await, 2);

    // The store alone says which ids were new.
    let again = h
        .auditor
        .store
        .insert(&[dup.clone(), marker.clone()])
        .await
        .unwrap();
    assert!(again.is_empty());
    h.finish().await;
}
