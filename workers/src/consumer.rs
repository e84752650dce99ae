//! The delivery loop of one stage.
//!
//! `P.<stage>` → `basic_qos(prefetch)` bounds the jobs in flight → each delivery runs in its own
//! task ([`delivery`]) → the handler's result becomes an ack, a delayed retry (republished to a retry tier,
//! then acked) or a failure (told to waiters through the cache, dead-lettered with its reason,
//! then acked). A message is acked only after its result is safely in Redis or RabbitMQ; if the
//! worker dies first, the broker redelivers it to another worker. A consumer whose channel or
//! connection fails reconnects on a jittered backoff of at most [`RECONNECT_MAX`]; its state
//! ([`ConsumerStatus`]) is part of the worker's readiness.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xhuma_common::queue::Stage;

use crate::Worker;

mod delivery;
mod status;

use delivery::handle_delivery;
pub use status::{ConsumerState, ConsumerStatus};

/// The first pause before a consumer reconnects.
const RECONNECT_MIN: Duration = Duration::from_millis(200);
/// The longest pause between reconnect attempts, jitter included: queued jobs wait at most
/// about this long after the broker is back (it was 10 s: `docs/reliability.md`, chaos
/// finding 2). An attempt against a broker that is down costs one refused connect.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Jittered doubling from [`RECONNECT_MIN`]; the jitter adds up to the delay again, so the
/// delay itself stops at half of [`RECONNECT_MAX`]. Never gives up.
fn reconnect_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(RECONNECT_MIN)
        .with_max_delay(RECONNECT_MAX / 2)
        .without_max_times()
        .build()
}

/// Consumes one stage until `shutdown`, reconnecting with a bounded backoff on broker errors.
/// The stage's [`ConsumerState`] in `worker.consumers` says which it is doing (readiness).
pub async fn consume(worker: Arc<Worker>, stage: Stage, shutdown: CancellationToken) {
    let mut backoff = reconnect_backoff();
    while !shutdown.is_cancelled() {
        let error = match subscribe(&worker, stage).await {
            Ok(subscription) => {
                // It got going: the next outage starts the backoff afresh.
                backoff = reconnect_backoff();
                match deliver(&worker, stage, subscription, &shutdown).await {
                    Ok(()) => break,
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        worker.consumers.set(stage, ConsumerState::Reconnecting);
        let pause = backoff.next().unwrap_or(RECONNECT_MAX);
        tracing::warn!(stage = stage.as_str(), %error, retry_in_ms = pause.as_millis() as u64,
            "Consumer stopped; reconnecting");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    worker.consumers.set(stage, ConsumerState::Stopped);
}

/// Why a consumer stopped (it reconnects).
#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error(transparent)]
    Queue(#[from] xhuma_common::queue::QueueError),
    #[error("AMQP error")]
    Amqp(#[from] lapin::Error),
    #[error("the broker closed the consumer")]
    Closed,
}

/// A consumer on a stage queue: its channel, its deliveries and its tag.
struct Subscription {
    channel: lapin::Channel,
    consumer: lapin::Consumer,
    tag: String,
}

async fn subscribe(worker: &Worker, stage: Stage) -> Result<Subscription, ConsumeError> {
    let channel = worker.amqp.channel().await?;
    channel
        .basic_qos(worker.config.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("xhuma-worker-{}-{}", stage.as_str(), uuid::Uuid::new_v4());
    let consumer = channel
        .basic_consume(
            worker.amqp.names().stage(stage).into(),
            tag.clone().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Subscription {
        channel,
        consumer,
        tag,
    })
}

/// Runs deliveries until `shutdown` (`Ok`) or a broker error, then lets in-flight jobs finish
/// within the grace period. The stage counts as consuming only while deliveries can arrive,
/// not while in-flight jobs drain.
async fn deliver(
    worker: &Arc<Worker>,
    stage: Stage,
    subscription: Subscription,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let Subscription {
        channel,
        mut consumer,
        tag,
    } = subscription;
    worker.consumers.set(stage, ConsumerState::Consuming);
    tracing::info!(
        stage = stage.as_str(),
        prefetch = worker.config.prefetch,
        "Consuming"
    );
    let tracker = TaskTracker::new();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let worker = worker.clone();
                    tracker.spawn(async move { handle_delivery(&worker, stage, delivery).await });
                }
                Some(Err(error)) => break Err(ConsumeError::Amqp(error)),
                None => break Err(ConsumeError::Closed),
            },
        }
    };
    let state = match result {
        Ok(()) => ConsumerState::Stopped,
        Err(_) => ConsumerState::Reconnecting,
    };
    worker.consumers.set(stage, state);
    // Stop new deliveries, then give in-flight jobs the grace period. Whatever is still
    // unacked when the channel closes goes back to the queue for another worker.
    let _ = channel
        .basic_cancel(tag.into(), BasicCancelOptions::default())
        .await;
    tracker.close();
    if tokio::time::timeout(worker.config.grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            stage = stage.as_str(),
            "Grace period over; unfinished jobs will be redelivered"
        );
    }
    let _ = channel.close(200, "shutdown".into()).await;
    result
}
