//! The AMQP topology (see the table in `queue.rs`), declared idempotently by whoever
//! connects first: the jobs exchange, a durable queue per stage bound to it, the retry tiers
//! that dead-letter back to their stage, and the dead-letter and audit queues.
//!
//! On quorum queues the stage queues and retry tiers dead-letter **at-least-once**
//! (`x-dead-letter-strategy`, RabbitMQ ≥ 3.10): the broker keeps a dead-lettered message in its
//! source queue until the target queue has confirmed it, so a retry tier whose TTL expires, or
//! a stage message past the delivery limit, that meets a target without a leader (broker start,
//! a leader change) or without a route is retried, not dropped. The broker requires
//! `x-overflow: reject-publish` for it. Classic queues can only dead-letter at-most-once.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use super::{
    DEAD_LETTER_MAX_LENGTH, DEAD_LETTER_TTL, DELIVERY_LIMIT, Names, QueueError, RETRY_TIERS_MS,
    Stage,
};
use crate::config::QueueType;

/// The policy that gives stage queues and retry tiers declared by an older version (without
/// the arguments) at-least-once dead-lettering: `rabbitmqctl set_policy` with this definition,
/// see [`at_least_once_policy_command`].
pub const AT_LEAST_ONCE_POLICY: &str =
    r#"{"dead-letter-strategy":"at-least-once","overflow":"reject-publish"}"#;

/// Whether a queue now has the arguments asked for, or is one an older version made and is
/// used as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    AsAsked,
    Kept,
}

/// Declares durable queues, all on one channel while the broker agrees. A queue of that name
/// made by an older version refuses new arguments with PRECONDITION_FAILED, which closes the
/// channel: the queue is then declared again, on a fresh channel, with the arguments that
/// version used, and kept as it is ([`Declared::Kept`]; the caller warns with the policy that
/// brings it up to date). A queue that matches neither is an error, as before.
struct Declarer<'a> {
    connection: &'a Connection,
    channel: Channel,
}

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

fn amqp(op: &'static str) -> impl FnOnce(lapin::Error) -> QueueError {
    move |source| QueueError::Amqp { op, source }
}

fn precondition_failed(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(e)
        if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)))
}

/// Adds at-least-once dead-lettering to a quorum queue's arguments; classic queues have no
/// such strategy and keep at-most-once.
fn at_least_once(args: &mut FieldTable, queue_type: QueueType) {
    if queue_type == QueueType::Quorum {
        args.insert(
            "x-dead-letter-strategy".into(),
            AMQPValue::LongString("at-least-once".into()),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
    }
}

/// A stage queue's arguments, without the dead-letter strategy (as older versions made it).
fn stage_args(names: &Names, queue_type: QueueType) -> FieldTable {
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
    args
}

/// A retry tier's arguments, without the dead-letter strategy (as older versions made it).
fn retry_args(names: &Names, stage: Stage, delay_ms: u64, queue_type: QueueType) -> FieldTable {
    let mut args = queue_args(queue_type);
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

/// The `rabbitmqctl` command that applies [`AT_LEAST_ONCE_POLICY`] to the stage queues and
/// retry tiers of `names` (and nothing else: the dead-letter and audit queues dead-letter
/// nowhere). A queue takes only its highest-priority policy: merge this into any other policy
/// that matches these queues.
pub fn at_least_once_policy_command(names: &Names) -> String {
    let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    let pattern = format!(
        r"^{}\.({})(\.retry\.[0-9]+)?$",
        regex_escape(names.prefix()),
        stages.join("|")
    );
    format!(
        "rabbitmqctl set_policy --apply-to queues {}-dead-letter-at-least-once '{pattern}' \
         '{AT_LEAST_ONCE_POLICY}'",
        names.prefix()
    )
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// === impl Declarer ===

impl<'a> Declarer<'a> {
    async fn open(connection: &'a Connection) -> Result<Self, QueueError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(amqp("channel.open"))?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// Declares `queue` with `args`; if an older version made it with `legacy` instead, keeps
    /// it.
    async fn queue(
        &mut self,
        queue: &str,
        args: FieldTable,
        legacy: FieldTable,
    ) -> Result<Declared, QueueError> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        match self
            .channel
            .queue_declare(queue.into(), durable, args)
            .await
        {
            Ok(_) => Ok(Declared::AsAsked),
            Err(error) if precondition_failed(&error) => {
                self.channel = self
                    .connection
                    .create_channel()
                    .await
                    .map_err(amqp("channel.open"))?;
                self.channel
                    .queue_declare(queue.into(), durable, legacy)
                    .await
                    .map_err(amqp("queue.declare"))?;
                Ok(Declared::Kept)
            }
            Err(source) => Err(QueueError::Amqp {
                op: "queue.declare",
                source,
            }),
        }
    }

    async fn close(self) {
        let _ = self.channel.close(200, "declared".into()).await;
    }
}

/// The dead-letter queue holds jobs that name patients: bounded in age and length, so it is
/// a place people look at, not an archive. A queue of that name made by an older version
/// (without the bounds) is used as it is, with a warning to bound it by policy.
pub async fn declare_dead_letter(
    connection: &Connection,
    names: &Names,
    queue_type: QueueType,
) -> Result<(), QueueError> {
    let mut args = queue_args(queue_type);
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(DEAD_LETTER_TTL.as_millis() as i64),
    );
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(DEAD_LETTER_MAX_LENGTH),
    );
    let mut declarer = Declarer::open(connection).await?;
    let declared = declarer
        .queue(&names.dead(), args, queue_args(queue_type))
        .await;
    declarer.close().await;
    if declared? == Declared::Kept {
        tracing::warn!(
            queue = %names.dead(),
            "The dead-letter queue exists without a TTL and length limit (made by an older \
             version): bound it with a policy (message-ttl, max-length) or delete it empty"
        );
    }
    Ok(())
}

/// Declares exchanges, stage queues, retry tiers and the audit queue (the dead-letter queue:
/// [`declare_dead_letter`]). Idempotent: re-declaring with the same arguments is a no-op on
/// the broker. Stage queues and retry tiers made by an older version without at-least-once
/// dead-lettering are used as they are, with a warning naming the policy to apply.
pub async fn declare_topology(
    connection: &Connection,
    names: &Names,
    queue_type: QueueType,
) -> Result<(), QueueError> {
    let mut declarer = Declarer::open(connection).await?;
    let result = declare_all(&mut declarer, names, queue_type).await;
    declarer.close().await;
    let kept = result?;
    if !kept.is_empty() {
        tracing::warn!(
            queues = %kept.join(","),
            policy = %at_least_once_policy_command(names),
            "Queues made by an older version dead-letter at-most-once, so a broker restart can \
             drop a job waiting in a retry tier: apply the policy (this warning stays, the \
             declared arguments do not change), or delete the queues when empty"
        );
    }
    Ok(())
}

/// Declares everything on `declarer`; returns the queues kept with their older arguments.
async fn declare_all(
    declarer: &mut Declarer<'_>,
    names: &Names,
    queue_type: QueueType,
) -> Result<Vec<String>, QueueError> {
    declarer
        .channel
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
    declarer
        .queue(
            &names.audit(),
            queue_args(queue_type),
            queue_args(queue_type),
        )
        .await?;
    let mut kept = Vec::new();
    for stage in Stage::ALL {
        let mut queues = vec![(names.stage(stage), stage_args(names, queue_type))];
        for delay in RETRY_TIERS_MS {
            queues.push((
                names.retry(stage, delay),
                retry_args(names, stage, delay, queue_type),
            ));
        }
        for (queue, legacy) in queues {
            let mut args = legacy.clone();
            at_least_once(&mut args, queue_type);
            if declarer.queue(&queue, args, legacy).await? == Declared::Kept {
                kept.push(queue);
            }
        }
        declarer
            .channel
            .queue_bind(
                names.stage(stage).into(),
                names.exchange().into(),
                stage.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp("queue.bind"))?;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_matches_stage_queues_and_retry_tiers_only() {
        let command = at_least_once_policy_command(&Names::new("xhuma"));
        assert_eq!(
            command,
            r#"rabbitmqctl set_policy --apply-to queues xhuma-dead-letter-at-least-once '^xhuma\.(sds|gpconnect)(\.retry\.[0-9]+)?$' '{"dead-letter-strategy":"at-least-once","overflow":"reject-publish"}'"#
        );
        assert_eq!(regex_escape("a.b-c+"), r"a\.b-c\+");
    }
}
