//! RabbitMQ topology against a real broker: stage routing with confirms, the retry tiers'
//! delayed return to their stage, and declaring twice being harmless.

mod support;

use std::time::Duration;

use lapin::options::BasicAckOptions;
use lapin::types::{AMQPValue, FieldTable};
use support::amqp::{cleanup, config, declared_with, get};
use xhuma_common::config::QueueType;
use xhuma_common::queue::{Amqp, HEADER_ATTEMPT, Stage, header_int, job_headers};

async fn routes_and_retries(queue_type: QueueType) {
    let cfg = config(queue_type);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    // A second connection declares the same topology again without error.
    let again = Amqp::connect(&cfg, "test-2")
        .await
        .expect("idempotent declare");
    again.close().await;

    amqp.publish_to_stage(
        Stage::GpConnect,
        &serde_json::json!({"hello": 1}),
        job_headers("c-1", 0, None),
        "m-1",
    )
    .await
    .expect("publish confirmed");
    let channel = amqp.channel().await.expect("channel");
    let names = amqp.names().clone();
    let mut got = None;
    for _ in 0..50 {
        got = get(&channel, &names.stage(Stage::GpConnect)).await;
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let msg = got.expect("delivered to the stage queue");
    assert_eq!(msg.delivery.properties.delivery_mode(), &Some(2));
    msg.delivery
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");

    // A message parked in the 1 s retry tier comes back to its stage by itself.
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_ATTEMPT.into(),
        lapin::types::AMQPValue::LongLongInt(1),
    );
    amqp.publish_bytes("", &names.retry(Stage::Sds, 1000), b"{}", headers, "m-2")
        .await
        .expect("publish to retry tier");
    let mut back = None;
    for _ in 0..100 {
        back = get(&channel, &names.stage(Stage::Sds)).await;
        if back.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = back.expect("returned from the retry tier");
    assert_eq!(
        header_int(back.delivery.properties.headers().as_ref(), HEADER_ATTEMPT),
        Some(1)
    );
    back.delivery
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    cleanup(&amqp).await;
    amqp.close().await;
}

#[tokio::test]
async fn quorum_topology_routes_and_retries() {
    routes_and_retries(QueueType::Quorum).await;
}

#[tokio::test]
async fn classic_topology_routes_and_retries() {
    routes_and_retries(QueueType::Classic).await;
}

/// An audit event emitted with a confirmation wait is on the durable audit queue when the wait
/// says so (what the gateway relies on before it releases a document).
#[tokio::test]
async fn confirmed_audit_event_is_on_the_queue() {
    use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink};
    let cfg = config(QueueType::Quorum);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = AuditSink::spawn(amqp.clone(), shutdown.clone());
    let event = AuditEvent::new(AuditKind::Iti39, AuditOutcome::Success, "confirmed-1");
    let id = event.id.to_string();
    assert!(sink.emit_confirmed(event, Duration::from_secs(10)).await);
    let channel = amqp.channel().await.expect("channel");
    let got = get(&channel, &amqp.names().audit())
        .await
        .expect("the confirmed event is queued");
    let events = xhuma_common::audit::decode_message(&got.data).expect("json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.to_string(), id);
    got.ack(BasicAckOptions::default()).await.expect("ack");
    shutdown.cancel();
    cleanup(&amqp).await;
    amqp.close().await;
}

/// Events that queue up while a message is being confirmed travel together: one persistent
/// message (one confirm, one broker write) for many transactions, none lost or repeated.
#[tokio::test]
async fn audit_events_that_queue_up_share_a_message() {
    use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, MAX_BATCH};
    let cfg = config(QueueType::Quorum);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = AuditSink::spawn(amqp.clone(), shutdown.clone());
    // Emitted without yielding: the publisher (on this single-threaded runtime) finds them
    // all waiting.
    let events: Vec<AuditEvent> = (0..150)
        .map(|i| AuditEvent::new(AuditKind::Iti38, AuditOutcome::Success, format!("b-{i}")))
        .collect();
    let mut ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    for e in events {
        sink.emit(e);
    }
    sink.flush(Duration::from_secs(10)).await;
    let channel = amqp.channel().await.expect("channel");
    let (mut messages, mut seen) = (0, Vec::new());
    while let Some(got) = get(&channel, &amqp.names().audit()).await {
        let events = xhuma_common::audit::decode_message(&got.data).expect("json");
        assert!(events.len() <= MAX_BATCH);
        let header = got.properties.headers().as_ref().and_then(|h| {
            h.inner()
                .get(xhuma_common::audit::HEADER_AUDIT_EVENTS)
                .cloned()
        });
        assert_eq!(header, Some(AMQPValue::LongLongInt(events.len() as i64)));
        seen.extend(events.iter().map(|e| e.id.to_string()));
        messages += 1;
        got.ack(BasicAckOptions::default()).await.expect("ack");
    }
    ids.sort();
    seen.sort();
    assert_eq!(seen, ids, "every event once");
    assert_eq!(
        messages,
        150usize.div_ceil(MAX_BATCH),
        "{messages} messages"
    );
    shutdown.cancel();
    cleanup(&amqp).await;
    amqp.close().await;
}

#[tokio::test]
async fn the_dead_letter_queue_is_bounded_in_age_and_length() {
    let cfg = config(QueueType::Classic);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let dead = amqp.names().dead();
    let mut bounded = FieldTable::default();
    bounded.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(xhuma_common::queue::DEAD_LETTER_TTL.as_millis() as i64),
    );
    bounded.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(xhuma_common::queue::DEAD_LETTER_MAX_LENGTH),
    );
    assert!(
        declared_with(&amqp, &dead, bounded).await,
        "TTL and max length set"
    );
    assert!(
        !declared_with(&amqp, &dead, FieldTable::default()).await,
        "not an unbounded queue"
    );
    cleanup(&amqp).await;
    amqp.close().await;

    // A dead-letter queue left unbounded by an older version does not stop the start.
    let legacy = config(QueueType::Classic);
    let setup = Amqp::connect(&config(QueueType::Classic), "setup")
        .await
        .expect("connect");
    let legacy_dead = xhuma_common::queue::Names::new(&legacy.prefix).dead();
    assert!(declared_with(&setup, &legacy_dead, FieldTable::default()).await);
    let amqp = Amqp::connect(&legacy, "test").await.expect("starts anyway");
    cleanup(&amqp).await;
    amqp.close().await;
    cleanup(&setup).await;
    setup.close().await;
}
