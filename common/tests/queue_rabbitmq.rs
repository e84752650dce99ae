//! RabbitMQ topology against a real broker: stage routing with confirms, the retry tiers'
//! delayed return to their stage, and declaring twice being harmless.

use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use xhuma_common::config::{AmqpConfig, QueueType, Secret};
use xhuma_common::queue::{Amqp, HEADER_ATTEMPT, Stage, header_int, job_headers};

fn config(queue_type: QueueType) -> AmqpConfig {
    AmqpConfig {
        url: Secret::new(
            std::env::var("XHUMA_TEST_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        ),
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        queue_type,
    }
}

async fn get(channel: &lapin::Channel, queue: &str) -> Option<lapin::message::BasicGetMessage> {
    channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .expect("basic.get")
}

async fn cleanup(amqp: &Amqp) {
    let names = amqp.names();
    let channel = amqp.channel().await.expect("channel");
    let mut queues = vec![names.dead(), names.audit()];
    for stage in Stage::ALL {
        queues.push(names.stage(stage));
        for t in xhuma_common::queue::RETRY_TIERS_MS {
            queues.push(names.retry(stage, t));
        }
    }
    for q in queues {
        let _ = channel
            .queue_delete(q.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(names.exchange().into(), Default::default())
        .await;
}

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
    let body: serde_json::Value = serde_json::from_slice(&got.data).expect("json");
    assert_eq!(body["id"], id.as_str());
    got.ack(BasicAckOptions::default()).await.expect("ack");
    shutdown.cancel();
    cleanup(&amqp).await;
    amqp.close().await;
}

/// Declares `queue` with `args` on a fresh channel of `amqp`'s connection: whether the broker
/// agrees those are its arguments (a mismatch closes the channel with PRECONDITION_FAILED).
async fn declared_with(amqp: &Amqp, queue: &str, args: FieldTable) -> bool {
    let channel = amqp.channel().await.expect("channel");
    let options = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), options, args)
        .await
        .is_ok()
}

#[tokio::test]
async fn the_dead_letter_queue_is_bounded_in_age_and_length() {
    use lapin::types::AMQPValue;
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
