//! Helpers for tests against the real RabbitMQ: a config with a prefix of its own per test,
//! basic.get, declaring a queue to compare its arguments, and deleting a prefix's topology.

use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use xhuma_common::config::{AmqpConfig, QueueType, Secret};
use xhuma_common::queue::{Amqp, Stage};

pub fn config(queue_type: QueueType) -> AmqpConfig {
    AmqpConfig {
        url: Secret::new(
            std::env::var("XHUMA_TEST_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        ),
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        queue_type,
    }
}

pub async fn get(channel: &lapin::Channel, queue: &str) -> Option<lapin::message::BasicGetMessage> {
    channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .expect("basic.get")
}

pub async fn cleanup(amqp: &Amqp) {
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

/// Declares `queue` with `args` on a fresh channel of `amqp`'s connection: whether the broker
/// agrees those are its arguments (a mismatch closes the channel with PRECONDITION_FAILED).
pub async fn declared_with(amqp: &Amqp, queue: &str, args: FieldTable) -> bool {
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
