//! The AMQP topology (see the table in `queue.rs`), declared idempotently by whoever
//! connects first: the jobs exchange, a durable queue per stage bound to it, the retry tiers
//! that dead-letter back to their stage, and the dead-letter and audit queues.

use lapin::Channel;
use lapin::ExchangeKind;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::{
    DEAD_LETTER_MAX_LENGTH, DEAD_LETTER_TTL, DELIVERY_LIMIT, Names, QueueError, RETRY_TIERS_MS,
    Stage,
};
use crate::config::QueueType;

fn queue_args(queue_type: QueueType) -> FieldTable {
    let mut args = FieldTable::default();
    if queue_type == QueueType::Quorum {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    args
}

/// The dead-letter queue holds jobs that name patients: bounded in age and length, so it is
/// a place people look at, not an archive. Declared on a channel of its own: a queue of that
/// name made by an older version (without the bounds) refuses the new arguments and closes the
/// channel; it is then used as it is, with a warning to bound it by policy.
pub async fn declare_dead_letter(
    connection: &lapin::Connection,
    names: &Names,
    queue_type: QueueType,
) -> Result<(), QueueError> {
    let amqp = |op| move |source| QueueError::Amqp { op, source };
    let mut args = queue_args(queue_type);
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(DEAD_LETTER_TTL.as_millis() as i64),
    );
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(DEAD_LETTER_MAX_LENGTH),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let channel = connection
        .create_channel()
        .await
        .map_err(amqp("channel.open"))?;
    match channel
        .queue_declare(names.dead().into(), durable, args)
        .await
    {
        Ok(_) => {
            let _ = channel.close(200, "declared".into()).await;
            Ok(())
        }
        Err(_) => {
            let channel = connection
                .create_channel()
                .await
                .map_err(amqp("channel.open"))?;
            channel
                .queue_declare(
                    names.dead().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..durable
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(amqp("queue.declare"))?;
            let _ = channel.close(200, "declared".into()).await;
            tracing::warn!(
                queue = %names.dead(),
                "The dead-letter queue exists without a TTL and length limit (made by an older \
                 version): bound it with a policy (message-ttl, max-length) or delete it empty"
            );
            Ok(())
        }
    }
}

/// Declares exchanges, stage queues, retry tiers and the audit queue (the dead-letter queue:
/// [`declare_dead_letter`]). Idempotent: re-declaring with the same arguments is a no-op on
/// the broker.
pub async fn declare_topology(
    channel: &Channel,
    names: &Names,
    queue_type: QueueType,
) -> Result<(), QueueError> {
    let amqp = |op| move |source| QueueError::Amqp { op, source };
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            names.exchange().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(amqp("exchange.declare"))?;
    channel
        .queue_declare(names.audit().into(), durable, queue_args(queue_type))
        .await
        .map_err(amqp("queue.declare"))?;
    for stage in Stage::ALL {
        let mut args = queue_args(queue_type);
        if queue_type == QueueType::Quorum {
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(DELIVERY_LIMIT),
            );
        }
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(names.dead().into()),
        );
        let queue = names.stage(stage);
        channel
            .queue_declare(queue.clone().into(), durable, args)
            .await
            .map_err(amqp("queue.declare"))?;
        channel
            .queue_bind(
                queue.into(),
                names.exchange().into(),
                stage.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp("queue.bind"))?;
        for delay in RETRY_TIERS_MS {
            let mut args = queue_args(queue_type);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay as i64));
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(names.exchange().into()),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(stage.as_str().into()),
            );
            channel
                .queue_declare(names.retry(stage, delay).into(), durable, args)
                .await
                .map_err(amqp("queue.declare"))?;
        }
    }
    Ok(())
}
