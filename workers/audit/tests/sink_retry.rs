//! `AuditSink` keeps an event it could not publish and retries until the broker takes it.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink};
use xhuma_common::config::{AmqpConfig, Env};
use xhuma_common::queue::Amqp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_retries_until_the_audit_queue_is_back() {
    let (prefix, _) = support::unique("sink");
    let lookup = |k: &str| match k {
        "XHUMA_AMQP_URL" => Some(support::amqp_url()),
        "XHUMA_QUEUE_PREFIX" => Some(prefix.clone()),
        "XHUMA_QUEUE_TYPE" => Some("classic".into()),
        _ => None,
    };
    let config = AmqpConfig::from_env(&Env::new(&lookup)).unwrap();
    let amqp = Amqp::connect(&config, "audit-sink-test").await.unwrap();
    let queue = amqp.names().audit();
    let admin = amqp.channel().await.unwrap();
    // The queue is gone: publishes come back unroutable (a refusal, like a broker outage).
    admin
        .queue_delete(queue.clone().into(), QueueDeleteOptions::default())
        .await
        .unwrap();

    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = AuditSink::spawn(amqp.clone(), shutdown.clone());
    let event: AuditEvent =
        support::event(AuditKind::GpConnect, AuditOutcome::Denied, "corr-retry");
    sink.emit(event.clone());
    // Not published yet: a short flush gives up without losing the event.
    sink.flush(Duration::from_millis(300)).await;
    let missing = admin
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(missing.is_err(), "the queue should still be absent");

    let admin = amqp.channel().await.unwrap();
    admin
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    sink.flush(Duration::from_secs(30)).await;
    let got = admin
        .basic_get(queue.clone().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the retried event");
    let mut received: Vec<AuditEvent> =
        xhuma_common::audit::decode_message(&got.delivery.data).unwrap();
    assert_eq!(received.len(), 1);
    let received = received.remove(0);
    assert_eq!(received, event.clone().source(received.source.clone()));
    assert_eq!(received.id, event.id);
    assert_eq!(
        got.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_string()),
        Some(event.id.to_string())
    );

    shutdown.cancel();
    support::delete_topology(&amqp).await;
    amqp.close().await;
}
