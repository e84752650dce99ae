//! Bad messages go to `P.dead` with a reason; the consumer carries on.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::time::Duration;

use lapin::options::BasicGetOptions;
use lapin::types::FieldTable;
use support::Harness;
use xhuma_common::audit::{AuditKind, AuditOutcome};
use xhuma_common::queue::{HEADER_REASON, HEADER_STAGE, header_str};

/// Gets every message from the dead queue (bounded wait for `n`).
async fn dead_messages(h: &Harness, n: usize) -> Vec<(Vec<u8>, String, String)> {
    let channel = h.auditor.amqp.channel().await.unwrap();
    let mut out = Vec::new();
    for _ in 0..200 {
        while let Some(message) = channel
            .basic_get(
                h.auditor.amqp.names().dead().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            let headers = message.delivery.properties.headers().as_ref();
            out.push((
                message.delivery.data.clone(),
                header_str(headers, HEADER_REASON).unwrap_or_default(),
                header_str(headers, HEADER_STAGE).unwrap_or_default(),
            ));
        }
        if out.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_message_is_dead_lettered_and_consumer_continues() {
    let h = Harness::start("dead").await;
    let amqp = &h.auditor.amqp;
    let queue = amqp.names().audit();

    let garbage = b"{not json at all".to_vec();
    amqp.publish_bytes("", &queue, &garbage, FieldTable::default(), "bad-1")
        .await
        .unwrap();
    // Valid JSON, wrong shape (an unknown kind).
    let wrong_shape = br#"{"id":"0190a0a0-0000-7000-8000-000000000000","at":"2026-01-01T00:00:00Z","kind":"iti99","outcome":"success","correlation_id":"x"}"#.to_vec();
    amqp.publish_bytes("", &queue, &wrong_shape, FieldTable::default(), "bad-2")
        .await
        .unwrap();
    // Decodes, but PostgreSQL refuses it (a NUL byte in text): stored one by one, this one
    // dead-lettered, its batch-mates kept.
    let refused = support::event(AuditKind::Iti55, AuditOutcome::Success, "corr-nul")
        .detail("nul \u{0} byte");
    amqp.publish_json("", &queue, &refused, FieldTable::default(), "bad-3")
        .await
        .unwrap();
    let good = support::event(AuditKind::Iti55, AuditOutcome::Success, "corr-good");
    amqp.publish_json("", &queue, &good, FieldTable::default(), "good")
        .await
        .unwrap();

    assert_eq!(h.wait_rows("correlation_id = 'corr-good'", 1).await, 1);
    assert_eq!(h.count("correlation_id = 'corr-nul'").await, 0);

    let dead = dead_messages(&h, 3).await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    let find = |body: &[u8]| dead.iter().find(|(b, _, _)| b == body).unwrap();
    let (_, reason, stage) = find(&garbage);
    assert!(reason.starts_with("audit: cannot decode"), "{reason}");
    assert_eq!(stage, "audit");
    let (_, reason, _) = find(&wrong_shape);
    assert!(reason.starts_with("audit: cannot decode"), "{reason}");
    let refused_body = serde_json::to_vec(&refused).unwrap();
    let (_, reason, _) = find(&refused_body);
    assert!(
        reason.starts_with("audit: refused by the database"),
        "{reason}"
    );

    // Still consuming after all that.
    let later = support::event(AuditKind::Iti39, AuditOutcome::Failed, "corr-later");
    amqp.publish_json("", &queue, &later, FieldTable::default(), "later")
        .await
        .unwrap();
    assert_eq!(h.wait_rows("correlation_id = 'corr-later'", 1).await, 1);
    h.finish().await;
}

/// What `AuditSink` publishes: several events in one message (a JSON array). Each is stored;
/// one the database refuses is dead-lettered alone (as its own event, not the whole array),
/// and a single-event message from an older publisher is still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_message_are_stored_and_refused_one_by_one() {
    let h = Harness::start("batch").await;
    let amqp = &h.auditor.amqp;
    let queue = amqp.names().audit();

    let first = support::event(AuditKind::Iti38, AuditOutcome::Success, "batch-1");
    let refused = support::event(AuditKind::Iti38, AuditOutcome::Success, "batch-nul")
        .detail("nul \u{0} byte");
    let last = support::event(AuditKind::Iti39, AuditOutcome::Success, "batch-3");
    amqp.publish_json(
        "",
        &queue,
        &vec![&first, &refused, &last],
        FieldTable::default(),
        "batch",
    )
    .await
    .unwrap();
    let old = support::event(AuditKind::Iti55, AuditOutcome::Success, "batch-old");
    amqp.publish_json("", &queue, &old, FieldTable::default(), "old")
        .await
        .unwrap();

    assert_eq!(h.wait_rows("correlation_id LIKE 'batch-%'", 3).await, 3);
    assert_eq!(h.count("correlation_id = 'batch-nul'").await, 0);
    assert_eq!(h.count("correlation_id = 'batch-old'").await, 1);
    let dead = dead_messages(&h, 1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, serde_json::to_vec(&refused).unwrap());
    assert!(
        dead[0].1.starts_with("audit: refused by the database"),
        "{}",
        dead[0].1
    );
    h.finish().await;
}
