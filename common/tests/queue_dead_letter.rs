//! At-least-once dead-lettering on quorum queues, against the real broker: a retry whose TTL
//! expires while its stage cannot take it is kept and arrives later (at-most-once dropped it:
//! docs/reliability.md, chaos finding 1); stage queues and retry tiers are declared with the
//! strategy; queues an older version made without it are kept; and what reject-publish means
//! for a publisher.

mod support;

use std::time::Duration;

use lapin::options::{BasicAckOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use support::amqp::{cleanup, config, declared_with, get};
use xhuma_common::config::QueueType;
use xhuma_common::queue::{Amqp, Names, QueueError, Stage, job_headers};

/// The arguments an older version declared a stage queue with (no dead-letter strategy).
fn legacy_stage_args(names: &Names) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(xhuma_common::queue::DELIVERY_LIMIT),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(names.dead().into()),
    );
    args
}

/// The arguments an older version declared a retry tier with (no dead-letter strategy).
fn legacy_retry_args(names: &Names, stage: Stage, delay_ms: u64) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(delay_ms as i64),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.exchange().into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(stage.as_str().into()),
    );
    args
}

fn with_at_least_once(mut args: FieldTable) -> FieldTable {
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args
}

/// A policy set with `rabbitmqctl` on one queue, cleared on drop.
struct Policy {
    name: String,
}

impl Policy {
    /// Sets a policy on the retry tier `queue` alone, if `rabbitmqctl` can (a broker on this
    /// machine). Any policy change makes the broker's dead-letter worker of that queue retry
    /// what it holds at once; without one it retries every
    /// `dead_letter_worker_publisher_confirm_timeout` (default 180 s). The policy changes
    /// nothing else: a delivery limit, on a queue nobody consumes from. (Not the at-least-once
    /// policy, which would turn on what the test is about.)
    fn nudge(queue: &str) -> Policy {
        let name = format!("{queue}-test-nudge");
        let pattern = format!("^{}$", queue.replace('.', r"\."));
        let applied = std::process::Command::new("rabbitmqctl")
            .args(["-q", "set_policy", "--apply-to", "queues", &name, &pattern])
            .arg(r#"{"delivery-limit":10}"#)
            .output()
            .is_ok_and(|out| out.status.success());
        if !applied {
            eprintln!("note: rabbitmqctl set_policy failed; waiting for the broker's own retry");
        }
        Policy { name }
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "clear_policy", &self.name])
            .output();
    }
}

/// A job whose retry tier expires while its stage queue cannot take it (in production: the
/// stage's leader not yet elected after a broker restart; here: the stage unbound from the
/// exchange) is kept by the retry tier and reaches the stage once it can. At-most-once
/// dead-lettering drops it at the expiry.
#[tokio::test]
async fn an_expired_retry_waits_for_its_stage_instead_of_being_dropped() {
    let cfg = config(QueueType::Quorum);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let names = amqp.names().clone();
    let stage = names.stage(Stage::GpConnect);
    let channel = amqp.channel().await.expect("channel");
    let bind = |unbind: bool| {
        let channel = channel.clone();
        let (stage, exchange) = (stage.clone(), names.exchange());
        async move {
            let key = Stage::GpConnect.as_str();
            if unbind {
                channel
                    .queue_unbind(
                        stage.into(),
                        exchange.into(),
                        key.into(),
                        FieldTable::default(),
                    )
                    .await
            } else {
                channel
                    .queue_bind(
                        stage.into(),
                        exchange.into(),
                        key.into(),
                        Default::default(),
                        FieldTable::default(),
                    )
                    .await
            }
            .expect("bind/unbind")
        }
    };
    bind(true).await;
    let tier = names.retry(Stage::GpConnect, 1000);
    amqp.publish_bytes("", &tier, b"{}", job_headers("c-held", 2, None), "held-1")
        .await
        .expect("publish to retry tier");
    // Well past the 1 s TTL: the message has been dead-lettered, and had nowhere to go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        get(&channel, &stage).await.is_none(),
        "the stage was unroutable"
    );

    bind(false).await;
    let _policy = Policy::nudge(&tier);
    let mut arrived = None;
    // The broker's own retry comes within 180 s of the expiry; the nudge makes it seconds.
    for _ in 0..200 {
        arrived = get(&channel, &stage).await;
        if arrived.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let arrived = arrived.expect("the job reached its stage once it was routable again");
    assert_eq!(
        arrived
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str()),
        Some("held-1")
    );
    arrived.ack(BasicAckOptions::default()).await.expect("ack");
    cleanup(&amqp).await;
    amqp.close().await;
}

#[tokio::test]
async fn quorum_stage_queues_and_retry_tiers_dead_letter_at_least_once() {
    let cfg = config(QueueType::Quorum);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let names = amqp.names().clone();
    for stage in Stage::ALL {
        let legacy = legacy_stage_args(&names);
        assert!(
            declared_with(
                &amqp,
                &names.stage(stage),
                with_at_least_once(legacy.clone())
            )
            .await,
            "stage queue: at-least-once with reject-publish"
        );
        assert!(!declared_with(&amqp, &names.stage(stage), legacy).await);
        for t in xhuma_common::queue::RETRY_TIERS_MS {
            let legacy = legacy_retry_args(&names, stage, t);
            assert!(
                declared_with(
                    &amqp,
                    &names.retry(stage, t),
                    with_at_least_once(legacy.clone())
                )
                .await,
                "retry tier: at-least-once with reject-publish"
            );
            assert!(!declared_with(&amqp, &names.retry(stage, t), legacy).await);
        }
    }
    cleanup(&amqp).await;
    amqp.close().await;
}

/// Stage queues and retry tiers an older version made (at-most-once) refuse the new
/// arguments; they are kept as they are, the start goes on, and jobs still route.
#[tokio::test]
async fn queues_made_without_the_strategy_by_an_older_version_are_kept() {
    let legacy = config(QueueType::Quorum);
    let names = Names::new(&legacy.prefix);
    let setup = Amqp::connect(&config(QueueType::Classic), "setup")
        .await
        .expect("connect");
    let old_stage = legacy_stage_args(&names);
    let old_tier = legacy_retry_args(&names, Stage::GpConnect, 30_000);
    assert!(declared_with(&setup, &names.stage(Stage::GpConnect), old_stage.clone()).await);
    assert!(
        declared_with(
            &setup,
            &names.retry(Stage::GpConnect, 30_000),
            old_tier.clone()
        )
        .await
    );

    let amqp = Amqp::connect(&legacy, "test")
        .await
        .expect("starts with the older queues");
    assert!(
        declared_with(&amqp, &names.stage(Stage::GpConnect), old_stage).await,
        "kept as it was"
    );
    assert!(declared_with(&amqp, &names.retry(Stage::GpConnect, 30_000), old_tier).await);
    assert!(
        declared_with(
            &amqp,
            &names.stage(Stage::Sds),
            with_at_least_once(legacy_stage_args(&names))
        )
        .await,
        "the queues that did not exist are declared the new way"
    );
    amqp.publish_to_stage(
        Stage::GpConnect,
        &serde_json::json!({"hello": 2}),
        job_headers("c-legacy", 0, None),
        "m-legacy",
    )
    .await
    .expect("the kept stage queue is bound and takes jobs");
    cleanup(&amqp).await;
    amqp.close().await;
    cleanup(&setup).await;
    setup.close().await;
}

/// What reject-publish means for a publisher: a full queue nacks, and the publish is an error
/// the caller keeps its job over (the stage queues refuse only under a length-limit policy).
#[tokio::test]
async fn a_publish_the_queue_refuses_is_an_error() {
    let cfg = config(QueueType::Classic);
    let amqp = Amqp::connect(&cfg, "test").await.expect("connect");
    let full = format!("{}.full", cfg.prefix);
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(1));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    assert!(declared_with(&amqp, &full, args).await);
    amqp.publish_bytes("", &full, b"{}", FieldTable::default(), "first")
        .await
        .expect("room for one");
    let refused = amqp
        .publish_bytes("", &full, b"{}", FieldTable::default(), "second")
        .await;
    assert!(
        matches!(refused, Err(QueueError::Nacked)),
        "a nack is a failed publish: {refused:?}"
    );
    let channel = amqp.channel().await.expect("channel");
    let _ = channel
        .queue_delete(full.as_str().into(), QueueDeleteOptions::default())
        .await;
    cleanup(&amqp).await;
    amqp.close().await;
}
